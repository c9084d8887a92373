import { isFinalTurnStatus, type TurnEndData } from "@threadline/protocol";
import type { TurnRecord, Versioned } from "@threadline/store";
import { type ClosedTurnRecord, namesItsEnd } from "./turn-close.ts";

/**
 * The worker's decisions about a turn, as pure functions (the pool runs
 * them against the control bucket and the stream; these say what to do).
 */

/** A final turn's `turn.end` is re-published on redelivery only this soon after it was decided: well inside the stream's duplicate window (default 2 min). */
export const RESTORE_END_WITHIN_MS = 60_000;

/** What claiming a turn's control entry means to do, given its current value. */
export type ClaimPlan =
  /** Write `value` (create when `revision` is 0, else compare-and-set); on success the claim is `outcome`. */
  | { write: { value: TurnRecord; revision: number }; outcome: "start" | "takeover" | "skipped" | "close-cancelled" }
  /** Nothing to write: the turn is final already (`ended`), or its closing `turn.end` id is known (`close-cancelled`). */
  | { write?: undefined; outcome: "ended" | "close-cancelled" };

/**
 * How a worker claims a turn (`running` is the entry it would write:
 * status running, this pool and worker, lease):
 * - no entry or `pending` → `start` (attempt 0); under an operator → `skipped`
 *   (`cancelled`, `skipped: "operator"`: the pool stays silent);
 * - `running` under any worker → `takeover` (the server redelivered the input,
 *   so the owner's lease lapsed; attempt + 1) — also under an operator, a turn
 *   already running is finished;
 * - cancelled while `pending` (the gateway set `cancelEvent`) → `close-cancelled`:
 *   this worker stores the closing `turn.end`, under the id kept in the entry
 *   (chosen once with `newEndEvent`, so a redelivery gets the same id) —
 *   not under an operator, whose cancel already closed the turn;
 * - any other final status → `ended`.
 */
export function planClaim(
  current: Versioned<TurnRecord> | undefined,
  running: TurnRecord,
  operatorOwned: boolean,
  newEndEvent: () => string,
): ClaimPlan {
  if (operatorOwned && (!current || current.value.status === "pending")) {
    const value: TurnRecord = { ...current?.value, ...running, status: "cancelled", skipped: "operator" };
    return { write: { value, revision: current?.revision ?? 0 }, outcome: "skipped" };
  }
  if (!current) return { write: { value: { ...running, attempt: 0 }, revision: 0 }, outcome: "start" };
  const value = current.value;
  if (isFinalTurnStatus(value.status)) {
    if (value.status !== "cancelled" || value.cancelEvent === undefined || operatorOwned) return { outcome: "ended" };
    if (value.endEvent !== undefined) return { outcome: "close-cancelled" };
    const closing: TurnRecord = { ...value, agent: running.agent, worker: running.worker, endEvent: newEndEvent() };
    return { write: { value: closing, revision: current.revision }, outcome: "close-cancelled" };
  }
  const pending = value.status === "pending";
  const attempt = pending ? 0 : (value.attempt ?? 0) + 1;
  return {
    write: { value: { ...running, attempt }, revision: current.revision },
    outcome: pending ? "start" : "takeover",
  };
}

/** A taken-over turn is run again, unless it was taken over more than `maxTakeovers` times: a poison input, ended `interrupted`. */
export function takeoverVerdict(attempt: number, maxTakeovers: number): "resume" | "give-up" {
  return attempt > maxTakeovers ? "give-up" : "resume";
}

/** The `turn.end` of a poison input. */
export function poisonEnd(maxTakeovers: number): TurnEndData {
  return {
    status: "interrupted",
    reason: `the turn was taken over ${maxTakeovers} times; its workers keep crashing or stalling`,
  };
}

/**
 * Whether a worker that finds its turn final should store the entry's
 * `turn.end` again: the closer may have died between the final CAS and its
 * publish. Only for this pool's turns and while the stream's duplicate window
 * still covers the first attempt (the event is then kept once).
 */
export function shouldRestoreEnd(entry: TurnRecord, pool: string, now: number): entry is ClosedTurnRecord {
  return namesItsEnd(entry) && entry.agent === pool && now - entry.updatedAt < RESTORE_END_WITHIN_MS;
}

/**
 * How a turn that ran here ends: `cancelled` when its signal fired (with the
 * cancel's reason), else `failed` when the handler threw, else `completed`.
 * A handler failure is kept as `error` either way (it may have thrown before
 * the cancel arrived).
 */
export function endOfTurn(ran: { aborted: boolean; abortReason?: unknown; failure?: string }): TurnEndData {
  const end: TurnEndData = { status: ran.aborted ? "cancelled" : ran.failure !== undefined ? "failed" : "completed" };
  if (ran.aborted && ran.abortReason instanceof Error) end.reason = ran.abortReason.message.slice(0, 1024);
  if (ran.failure !== undefined) end.error = ran.failure.slice(0, 1024);
  return end;
}
