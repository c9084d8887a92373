import type { ControlTurnEntry } from "./turns.ts";

/**
 * Clock skew and scheduling slack allowed on top of a turn entry's
 * `leaseUntil` before anyone calls its worker gone: the lease is written with
 * the worker's clock and read with another process's.
 */
export const TURN_LEASE_GRACE_MS = 2000;

/** How a turn entry's worker looks from outside (PROTOCOL.md §17.6 "Orphaned turns"). */
export type TurnLiveness =
  /** Not `running` (pending or final): no worker to judge. */
  | "not-running"
  /** `running` and its lease is current: a worker renewed it recently. */
  | "alive"
  /** `running` and its lease ran out more than the grace ago: the worker is gone (or cut off from NATS). */
  | "orphaned"
  /** `running` without `leaseUntil` (written by an SDK that does not renew): undecidable from the entry. */
  | "unknown";

/**
 * Whether the worker of a turn entry still vouches for it at `now`. Pure; the
 * single rule both the agent SDK's orphan sweep and `threadline inspect` use.
 * @example turnLiveness({ status: "running", leaseUntil: 10_000, updatedAt: 0 }, 20_000) // "orphaned"
 */
export function turnLiveness(entry: Pick<ControlTurnEntry, "status" | "leaseUntil">, now: number): TurnLiveness {
  if (entry.status !== "running") return "not-running";
  if (typeof entry.leaseUntil !== "number") return "unknown";
  return now > entry.leaseUntil + TURN_LEASE_GRACE_MS ? "orphaned" : "alive";
}
