import { connectAgent } from "@threadline/agent";
import type { PresenceTransition } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { startStack } from "./support/stack.ts";

test("agent whenPresent/whenAbsent pause work while no user is attached and resume when one returns", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const presence = stack.agent.presence("work");
  onTestFinished(() => presence.close());
  await presence.enter({ status: "busy", name: "Worker" });
  const changes: PresenceTransition[] = [];
  const unsubscribe = presence.onChange((c) => changes.push(c));
  onTestFinished(unsubscribe);

  // Nobody there: whenAbsent resolves at once, whenPresent waits.
  await presence.whenAbsent("user");
  let present = false;
  const waiting = presence.whenPresent("user").then(() => {
    present = true;
  });
  expect(await presence.members()).toMatchObject([{ kind: "agent", id: "test-agent", status: "busy", name: "Worker" }]);
  expect(present).toBe(false);

  const tab = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }), { device: "phone" });
  onTestFinished(() => tab.close());
  await tab.request({ op: "attach", session: "work", from: "now" });
  await waiting;
  expect((await presence.members()).map((m) => m.id).sort()).toEqual(["alice", "test-agent"]);

  const gone = presence.whenAbsent("user");
  tab.terminate();
  await gone;
  expect(changes.map((c) => `${c.type}:${c.data.id}`)).toEqual(["presence.join:alice", "presence.leave:alice"]);
  expect(changes[1]?.data.reason).toBe("closed");

  // A waiter can be cancelled.
  const controller = new AbortController();
  const cancelled = presence.whenPresent("operator", { signal: controller.signal });
  controller.abort(new Error("shutting down"));
  await expect(cancelled).rejects.toThrow("shutting down");
});

test("agent presence refuses oversized metadata and invalid status before writing anything", async () => {
  const nats = await startNatsServer();
  onTestFinished(() => nats.stop());
  const agent = await connectAgent({ servers: nats.url, id: "strict" });
  onTestFinished(() => agent.close());
  const presence = agent.presence("meta");
  await expect(presence.enter({ metadata: { blob: "x".repeat(2000) } })).rejects.toMatchObject({
    code: "EVENT_TOO_LARGE",
  });
  await expect(presence.enter({ status: "Not OK" })).rejects.toMatchObject({ code: "INVALID_FRAME" });
  await expect(presence.update("idle")).rejects.toMatchObject({ code: "INVALID_FRAME" });
  expect(await presence.members()).toEqual([]);
  await presence.enter({ metadata: { model: "small" } });
  // members() follows the bucket through its watch: the agent's own write shows up moments later.
  await waitFor(async () => (await presence.members()).length === 1);
  expect(await presence.members()).toMatchObject([{ id: "strict", metadata: { model: "small" } }]);
});
