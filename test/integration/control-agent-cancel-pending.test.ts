import { Kvm } from "@nats-io/kv";
import { serveAgent, type TurnHandler } from "@threadline/agent";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { deviceClient, sessionLog } from "./support/control-agent.ts";
import { startStack } from "./support/stack.ts";

// Regression: a cancel of a still-pending turn moved its key to `cancelled`, but no `turn.end` was ever
// stored, so readers that fold turn events (threadline inspect, other clients) saw the turn open forever.
test("a turn cancelled while pending: the worker that picks its input up stores turn.end cancelled once and never runs it", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const tab = await deviceClient(stack, "alice", "tab").attach("pending1", { from: "start" });
  const log = sessionLog(tab);
  const kv = await new Kvm(stack.nc).open("threadline-control");
  const entry = async (turn: string) => (await kv.get(`pending1.turn.${turn}`))?.json<Record<string, unknown>>();

  // No worker serves the pool yet: the input stays pending, and the cancel ends it in the bucket.
  const { id: turn, seq: inputSeq } = await tab.publish({ type: "input", data: { text: "stream 3" } });
  const cancel = await tab.cancel(turn, "changed my mind");
  expect(await entry(turn)).toMatchObject({ status: "cancelled", cancelEvent: cancel.id });
  await waitFor(() => tab.control.turn(turn)?.status === "cancelled");

  // Workers start (the pool's durable starts at the stream's beginning) and find the input cancelled.
  const ran: string[] = [];
  const handler: TurnHandler = (ctx) => {
    ran.push(ctx.turn);
  };
  const server = await serveAgent({ agent: stack.agent, name: "assistant", entry: true, startAt: "all", handler });
  onTestFinished(() => server.stop({ graceMs: 0 }));
  const end = await log.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
  expect(end.event.data).toEqual({ status: "cancelled", reason: "cancelled before a worker started it" });
  expect(end.event.ref).toBe(turn);
  expect(end.event.from).toMatchObject({ kind: "agent", id: stack.agent.id });
  // The bucket names the closing worker and the turn.end's id; the gateway's cancelEvent is kept (retries pass).
  expect(await entry(turn)).toMatchObject({
    status: "cancelled",
    cancelEvent: cancel.id,
    agent: "assistant",
    worker: server.worker,
    endEvent: end.event.id,
  });

  // A second delivery of the input (here: another durable over the same inputs) re-publishes the same
  // turn.end id, which the stream stores once.
  const replay = await serveAgent({
    agent: stack.agent,
    name: "assistant",
    entry: true,
    startAt: "all",
    durable: "pool-assistant-replay",
    handler,
  });
  onTestFinished(() => replay.stop({ graceMs: 0 }));
  await waitFor(async () => {
    const info = await connectionOf(stack.agent).jsm.consumers.info(stack.agent.info.stream, "pool-assistant-replay");
    return info.ack_floor.stream_seq >= inputSeq && info.num_ack_pending === 0;
  });
  await replay.stop({ graceMs: 0 });

  // A later input runs normally; by then every event about the cancelled turn is stored.
  const { id: next } = await tab.publish({ type: "input", data: { text: "stream 3" } });
  await log.next((r) => r.event.type === "turn.end" && r.event.turn === next);
  expect(ran).toEqual([next]);
  const stored = [];
  for await (const r of stack.agent.history("pending1")) if (r.event.turn === turn) stored.push(r.event.type);
  expect(stored).toEqual(["cancel", "turn.end"]);
  expect(tab.control.turn(turn)).toMatchObject({ status: "cancelled" });
  expect(tab.control.active).toEqual([]);
});
