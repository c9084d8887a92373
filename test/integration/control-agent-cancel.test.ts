import { serveAgent } from "@threadline/agent";
import { createClient, memoryStorage } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { messageText, sessionLog } from "./support/control-agent.ts";
import { scriptedHandler } from "./support/control-agent-handler.ts";
import { startStack } from "./support/stack.ts";

test("Stop from tab B cancels a turn started in tab A; closing tab A does not cancel it; tab A resumes the stream", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const aborted: unknown[] = [];
  const server = await serveAgent({
    agent: stack.agent,
    name: "assistant",
    entry: true,
    handler: async (ctx) => {
      ctx.signal.addEventListener("abort", () => aborted.push(ctx.signal.reason));
      await scriptedHandler(ctx);
    },
  });
  onTestFinished(() => server.stop({ graceMs: 0 }));

  const tabAStorage = memoryStorage();
  const tab = (device: string, storage = memoryStorage()) => {
    const client = createClient({
      url: stack.gateway.url,
      token: () => stack.token({ sub: "alice" }),
      device,
      storage,
      WebSocket: WebSocket as never,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    onTestFinished(() => client.close());
    return client;
  };
  const tabA = tab("tab-a", tabAStorage);
  const tabB = tab("tab-b");
  const a = await tabA.attach("cancel1", { from: "start" });
  const logA = sessionLog(a);
  const b = await tabB.attach("cancel1", { from: "start" });
  const logB = sessionLog(b);

  // 3000 deltas, 10 ms apart: the turn outlives everything below unless it is cancelled.
  const { id: turn } = await a.publish({ type: "input", data: { text: "stream 3000" } });
  const start = await logA.next((r) => r.event.type === "message.start" && r.event.turn === turn);
  const messageId = start.event.ref!;
  await logA.next((r) => r.event.type === "message.append" && r.event.ref === messageId);

  // Tab A closes mid-turn: no control event, the turn keeps streaming (seen by tab B).
  await tabA.close();
  const seenAtClose = logB.ofTurn(turn).length;
  await waitFor(() => logB.ofTurn(turn).length >= seenAtClose + 20);
  expect(logB.records.some((r) => r.event.type === "cancel" || r.event.type === "turn.end")).toBe(false);
  expect(aborted).toEqual([]);

  // Tab A comes back (same stored position): it resumes exactly where it stopped, no gap, no duplicate.
  const tabA2 = tab("tab-a", tabAStorage);
  const logA2 = sessionLog(await tabA2.attach("cancel1"));
  await waitFor(() => logA2.records.length > 5);
  const lastBeforeClose = logA.records.at(-1)!.seq;
  expect(logA2.records[0]!.seq).toBe(lastBeforeClose + 1);

  // Stop from tab B: the agent's signal fires, the turn ends cancelled, its message too.
  await b.publish({ type: "cancel", turn, data: { reason: "user pressed stop" } });
  const end = await logA2.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
  expect(end.event.data).toMatchObject({ status: "cancelled", reason: expect.stringContaining("user pressed stop") });
  expect(aborted).toHaveLength(1);
  expect(aborted[0]).toMatchObject({ code: "TURN_ENDED" });
  const messageEnd = await logA2.next((r) => r.event.type === "message.end" && r.event.ref === messageId);
  expect(messageEnd.event.data).toEqual({ status: "cancelled" });

  // Tab B saw one unbroken stream of the turn: seqs strictly increasing, deltas 0..n-1 in order.
  const seqs = logB.records.map((r) => r.seq);
  expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  await waitFor(() => logB.records.some((r) => r.event.type === "turn.end"));
  const text = messageText(logB.records, messageId).trim().split(" ").map(Number);
  expect(text).toEqual(text.map((_, i) => i));
  expect(text.length).toBeLessThan(3000);
});
