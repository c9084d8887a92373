import type { Trigger } from "./trigger.ts";

/**
 * When things happen to a trigger (pure). Times are ms since the epoch; a
 * trigger's `ts` is the stream's timestamp of the event (the server's clock),
 * so every replica computes the same due time.
 */

/** The trigger is due `delayMs` after it was stored (a refresh or tab switch within the delay does not notify). */
export function dueAt(trigger: Trigger, delayMs: number): number {
  return trigger.ts + delayMs;
}

/** A trigger first seen more than `maxAgeMs` after it was stored is dropped (the notifier was away too long). */
export function isStale(trigger: Trigger, now: number, maxAgeMs: number): boolean {
  return now - trigger.ts > maxAgeMs;
}

/**
 * Stream timestamps are the stream leader's clock: after a leader change a
 * later message may carry a slightly earlier time. Reads that start at a
 * mark's time start this much earlier (seqs ≤ the mark are skipped anyway).
 */
export const CLOCK_GRACE_MS = 2_000;

/**
 * Where the read of a session's triggers for a due `trigger` starts: after
 * the user's mark (`seq`), and no earlier than `maxAgeMs` before the trigger
 * (older triggers would have been dropped as stale), nor than the mark's time.
 */
export function triggerWindow(
  trigger: Trigger,
  mark: { seq: number; ts: number },
  maxAgeMs: number,
): { after: number; since: number } {
  return { after: mark.seq, since: Math.max(trigger.ts - maxAgeMs, mark.ts - CLOCK_GRACE_MS) };
}

/** The delay of a redelivery: until `at`, at least `minMs` (a nak with 0 would be redelivered at once). */
export function delayUntil(at: number, now: number, minMs = 10): number {
  return Math.max(minMs, Math.ceil(at - now));
}
