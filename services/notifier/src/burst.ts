import type { Trigger } from "./trigger.ts";

/** What a due trigger does for one user (see {@link decideBurst}). */
export type BurstDecision =
  /** A later trigger of the burst is already stored: it will notify for this one too. */
  | { action: "collapse"; into: Trigger }
  /** This trigger ends its burst: one notification for `members` (oldest first; the last is its position). */
  | { action: "send"; members: Trigger[] }
  /** Nothing to notify: the trigger does not count for the user, and no earlier one is waiting. */
  | { action: "skip" };

/**
 * Collapse, decided from stream contents and the ledger only, so every
 * replica decides the same (pure).
 *
 * `counting` are the session's triggers after the user's burst mark that
 * count for the user — in their audience, wanted by their preferences, a
 * call still pending — in seq order; `trigger` is among them iff it counts.
 * The burst starts at the first of them and takes those stored less than
 * `collapseMaxMs` after it (so an endless stream still notifies). The due
 * trigger collapses into a later trigger of the burst; otherwise it sends one
 * notification standing for every counting trigger up to it (an earlier
 * burst still waiting — e.g. deferred by the rate limit — merges into it).
 *
 * @example
 *   decideBurst(t1, [t1, t2, t3], 60_000) // { action: "collapse", into: t2 }
 *   decideBurst(t3, [t1, t2, t3], 60_000) // { action: "send", members: [t1, t2, t3] }
 */
export function decideBurst(trigger: Trigger, counting: readonly Trigger[], collapseMaxMs: number): BurstDecision {
  const start = counting[0];
  if (start === undefined) return { action: "skip" };
  const later = counting.find((c) => c.seq > trigger.seq && c.ts - start.ts < collapseMaxMs);
  if (later) return { action: "collapse", into: later };
  const members = counting.filter((c) => c.seq <= trigger.seq);
  return members.length === 0 ? { action: "skip" } : { action: "send", members };
}
