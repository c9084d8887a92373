import { serveAgent } from "@threadline/agent";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { deviceClient, messageText, sessionLog } from "./support/control-agent.ts";
import { scriptedHandler } from "./support/control-agent-handler.ts";
import { startStack } from "./support/stack.ts";

test("a steer from another device reaches the running turn and changes its output", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const server = await serveAgent({ agent: stack.agent, name: "assistant", entry: true, handler: scriptedHandler });
  onTestFinished(() => server.stop({ graceMs: 0 }));
  const phone = await deviceClient(stack, "alice", "phone").attach("steer1", { from: "start" });
  const laptop = await deviceClient(stack, "alice", "laptop").attach("steer1", { from: "start" });
  const log = sessionLog(laptop);

  const { id: turn } = await phone.publish({ type: "input", data: { text: "stream 60" } });
  const start = await log.next((r) => r.event.type === "message.start" && r.event.turn === turn);
  const messageId = start.event.ref!;
  await log.next((r) => r.event.type === "message.append" && r.event.ref === messageId);
  await laptop.publish({ type: "steer", turn, data: { text: "shorter please" } });

  const end = await log.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
  expect(end.event.data).toEqual({ status: "completed" });
  const text = messageText(log.records, messageId);
  expect(text).toContain("[steer: shorter please]");
  // The steer lands between deltas, after the first one and before the last one.
  const words = text.trim().split(" ");
  const at = words.indexOf("[steer:");
  expect(at).toBeGreaterThan(0);
  expect(at).toBeLessThan(words.length - 3);
  await waitFor(() => log.records.some((r) => r.event.type === "message.end" && r.event.ref === messageId));
});
