import { connect } from "@nats-io/transport-node";
import { connectAgent } from "@threadline/agent";
import { provisionThreadline } from "@threadline/store";
import { afterAll, expect, it } from "vitest";
import { runCliProcess } from "../../libs/cli/src/test-support/cli-process.ts";
import { startPermissionedNats } from "./support/permissioned-nats.ts";

// The CLI under the shipped NATS permission model (deploy/nats/accounts.conf, as `npm start` runs it):
// as the gateway user it reads everything and writes user input; as an agent it can only do what
// that agent may, and says clearly what it could not read or write.
const { nats, gateway: gatewayUser, agentPass: passOf } = await startPermissionedNats("cli", ["agent-a"]);
const provisioner = await connect({ servers: nats.url, ...gatewayUser });
await provisionThreadline(provisioner);
const agentPass = passOf("agent-a");
const agent = await connectAgent({
  servers: nats.url,
  user: "agent-a",
  pass: agentPass,
  id: "agent-a",
  provision: false,
});
afterAll(async () => {
  await agent.close();
  await provisioner.close();
  await nats.stop();
});
const asGateway = { NATS_URL: nats.url, NATS_USER: "gateway", NATS_PASS: gatewayUser.pass };
const asAgent = { NATS_URL: nats.url, NATS_USER: "agent-a", NATS_PASS: agentPass };

it("works as the gateway user: tail, inspect, sessions and publishing user input", async () => {
  await agent.publish("perm-s1", { type: "note", data: { text: "from agent-a" } });
  await agent.presence("perm-s1").enter({ status: "active" });

  const published = await runCliProcess(
    ["publish", "perm-s1", "input", "--text", "hi", "--as", "user:alice"],
    asGateway,
  );
  expect(published.code).toBe(0);
  const tail = await runCliProcess(["tail", "perm-s1", "--once", "--json"], asGateway);
  expect(tail.code).toBe(0);
  expect(tail.stdout.map((l) => JSON.parse(l).event.type)).toEqual(["note", "input"]);
  const inspect = await runCliProcess(["inspect", "perm-s1", "--json"], asGateway);
  expect(inspect.code).toBe(0);
  const report = JSON.parse(inspect.stdout.join("\n"));
  expect(report).toMatchObject({ unreadable: [], owner: null, present: [{ kind: "agent", id: "agent-a" }] });
  const sessions = await runCliProcess(["sessions", "--json"], asGateway);
  expect(sessions.code).toBe(0);
  expect(JSON.parse(sessions.stdout.join("\n")).sessions.map((s: { session: string }) => s.session)).toEqual([
    "perm-s1",
  ]);

  // The gateway user may not speak as an agent: the server refuses, nothing is stored.
  const spoof = await runCliProcess(["publish", "perm-s1", "note", "--as", "agent:agent-a"], asGateway);
  expect(spoof.code).toBe(1);
  expect(spoof.stderr.join("\n")).toContain("PUBLISH_FAILED");
  // Six CLI processes (node start-up takes seconds on a loaded runner): each is bounded by runCliProcess's
  // own deadline, which names a command that hangs (one did, once, in CI: the test timed out at 30 s).
}, 90_000);

it("as an agent user: publishes as itself, and inspect names the buckets it may not read", async () => {
  const own = await runCliProcess(["publish", "perm-s2", "note", "--as", "agent:agent-a"], asAgent);
  expect(own.code).toBe(0);
  const inspect = await runCliProcess(["inspect", "perm-s2"], asAgent);
  expect(inspect.code).toBe(0);
  const text = inspect.stdout.join("\n");
  expect(text).toContain("events: 1");
  expect(text).toMatch(/not readable: bucket threadline-cursors/);
});
