import { connect } from "@nats-io/transport-node";
import { connectAgent } from "@threadline/agent";
import { createGateway } from "@threadline/gateway";
import { pino } from "pino";
import { expect, onTestFinished, test } from "vitest";
import { deviceClient, sessionLog } from "./support/control-agent.ts";
import { startPermissionedNats } from "./support/permissioned-nats.ts";
import { serveScripted } from "./support/scripted-pool.ts";
import { type Stack, testGatewayConfig } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

// serveAgent under the shipped NATS permission model (deploy/nats/permissions.ts), as the example agent of
// `npm start` runs: a least-privilege agent user runs turns, receives cancels and answers to its tool calls.
test("a pool worker with the shipped least-privilege agent user runs turns, is cancelled, gets tool results", async () => {
  const { nats, gateway: gatewayUser, agentPass } = await startPermissionedNats("test", ["helper"]);
  onTestFinished(() => nats.stop());
  const gatewayNc = await connect({ servers: nats.url, ...gatewayUser });
  onTestFinished(() => gatewayNc.close());
  const gateway = await createGateway(testGatewayConfig(nats.url), {
    nc: gatewayNc,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  onTestFinished(() => gateway.close());
  const agent = await connectAgent({
    servers: nats.url,
    user: "helper",
    pass: agentPass("helper"),
    id: "helper",
    provision: false,
  });
  onTestFinished(() => agent.close());
  const errors: unknown[] = [];
  await serveScripted({ agent }, { name: "helper", onError: (e) => errors.push(e) });

  const stack = { gateway, token: (claims) => mintToken({ sub: "alice", ...claims }) } as Stack;
  const tab = await deviceClient(stack, "alice", "tab").attach("perm1", { from: "start" });
  const log = sessionLog(tab);
  const { id: waiting } = await tab.publish({ type: "input", data: { text: "wait" } });
  await log.next((r) => r.event.type === "turn.start" && r.event.turn === waiting);
  await tab.publish({ type: "cancel", turn: waiting });
  expect((await log.next((r) => r.event.type === "turn.end" && r.event.turn === waiting)).event.data).toMatchObject({
    status: "cancelled",
  });

  const { id: tool } = await tab.publish({ type: "input", data: { text: "tool 5000" } });
  const call = await log.next((r) => r.event.type === "tool.call" && r.event.turn === tool);
  await tab.publish({ type: "tool.result", ref: call.event.ref!, data: { result: "here" } });
  const note = await log.next((r) => r.event.type === "note" && r.event.turn === tool);
  expect(note.event.data).toMatchObject({ text: "tool answered", answer: { result: "here" } });
  expect(note.event.from).toEqual({ kind: "agent", id: "helper" });
  expect(errors).toEqual([]);
});
