import { expect, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { deviceClient, runnerOf, workerSession } from "./support/control-agent.ts";
import { ControlKv } from "./support/control-kv.ts";
import type { ProcessStack } from "./support/stack.ts";

// Orphan sweep (PROTOCOL.md §17.6 "Orphaned turns"): a turn whose worker is gone and whose input is never
// redelivered is ended by a live worker of the pool within 1.25 × orphanAfterMs + 2 s.
const LEASE_MS = 1000;
const ORPHAN_AFTER_MS = 3000;
const BOUND_MS = 1.25 * ORPHAN_AFTER_MS + 2000;
/** Scheduling slack on a loaded 2-core machine on top of the documented bound. */
const SLACK_MS = 5000;

/** Worker processes renew their lease every LEASE_MS and sweep orphans after ORPHAN_AFTER_MS. */
const WORKER_OPTIONS = { leaseMs: LEASE_MS, orphanAfterMs: ORPHAN_AFTER_MS };

/** What a lost consumer state looks like to the pool: the durable is gone, the survivor recreates it from "new". */
async function loseTheDurable(stack: ProcessStack): Promise<void> {
  await connectionOf(stack.agent).jsm.consumers.delete(stack.agent.info.stream, "pool-assistant");
}

// Regression (issue 13): after a crash a turn whose input was not redelivered stayed "running" for ever.
test("a worker SIGKILLed mid-turn whose input is never redelivered: a live worker ends the turn interrupted within the bound, and its open message", async () => {
  const { stack, workers, tab, log } = await workerSession("orphan1", ["orphan-a", "orphan-b"], WORKER_OPTIONS);

  const { id: turn } = await tab.publish({ type: "input", data: { text: "stream 100000" } });
  const start = await log.next((r) => r.event.type === "turn.start" && r.event.turn === turn);
  const { victim, survivor } = runnerOf(workers, start);
  const message = await log.next((r) => r.event.type === "message.start" && r.event.turn === turn);

  await victim.kill("SIGKILL");
  const killedAt = Date.now();
  await loseTheDurable(stack);

  const end = await log.next((r) => r.event.type === "turn.end" && r.event.turn === turn, 30_000);
  const tookMs = Date.now() - killedAt;
  expect(end.event.data).toMatchObject({ status: "interrupted", reason: expect.stringMatching(/stopped renewing/) });
  expect(end.event.from).toMatchObject({ kind: "agent", id: "assistant" });
  expect(tookMs).toBeLessThan(BOUND_MS + SLACK_MS);
  // The dead worker's message is ended before the turn, so no client shows it streaming.
  const closed = log.records.find((r) => r.event.type === "message.end" && r.event.ref === message.event.ref);
  expect(closed?.event.data).toEqual({ status: "interrupted" });
  expect(closed!.seq).toBeLessThan(end.seq);
  const kv = await ControlKv.open(stack.nc);
  expect(await kv.turn("orphan1", turn)).toMatchObject({
    status: "interrupted",
    closedBy: survivor.worker,
    endEvent: end.event.id,
  });
  // Exactly one turn.end, and nobody resumed it.
  expect(log.ofTurn(turn).filter((r) => r.event.type === "turn.end")).toHaveLength(1);
  expect(log.ofTurn(turn).filter((r) => r.event.type === "turn.resumed")).toHaveLength(0);
  expect(tab.control.turn(turn)).toMatchObject({ status: "interrupted" });
  expect(tab.control.active).toEqual([]);
});

// Regression (issue 13): the Stop button stored a cancel of a turn whose worker was gone, and no turn.end followed.
test("a cancel from another device of a turn whose worker is gone ends it cancelled within the bound", async () => {
  const { stack, workers, tab, log } = await workerSession("orphan2", ["orphan-c", "orphan-d"], WORKER_OPTIONS);
  const { id: turn } = await tab.publish({ type: "input", data: { text: "stream 100000" } });
  const start = await log.next((r) => r.event.type === "turn.start" && r.event.turn === turn);
  const { victim } = runnerOf(workers, start);
  await log.next((r) => r.event.type === "message.append" && r.event.turn === turn);

  await victim.kill("SIGKILL");
  await loseTheDurable(stack);
  const phone = await deviceClient(stack, "alice", "phone").attach("orphan2", { from: "start" });
  await phone.publish({ type: "cancel", turn, data: { reason: "stop" } });
  const cancelledAt = Date.now();

  const end = await log.next((r) => r.event.type === "turn.end" && r.event.turn === turn, 30_000);
  expect(Date.now() - cancelledAt).toBeLessThan(BOUND_MS + SLACK_MS);
  expect(end.event.data).toMatchObject({
    status: "cancelled",
    reason: expect.stringMatching(/cancelled by user alice: stop/),
  });
  const kv = await ControlKv.open(stack.nc);
  expect(await kv.turn("orphan2", turn)).toMatchObject({ status: "cancelled" });
  expect(log.ofTurn(turn).filter((r) => r.event.type === "turn.end")).toHaveLength(1);
});
