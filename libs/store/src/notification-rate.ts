import type { KV } from "@nats-io/kv";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { readEntry, validJson, writeJson } from "./kv-json.ts";
import { rateKey } from "./notify-keys.ts";

/** A fixed window of a per-user rate limit: `limit` notifications per `windowMs`. */
export interface RateWindow {
  limit: number;
  windowMs: number;
}

/** What {@link NotificationRate.take} decided. */
export type RateDecision =
  | { allowed: true; count: number }
  /** Over the limit: try again at `retryAt` (the next window's start, ms since the epoch). */
  | { allowed: false; retryAt: number };

interface RateCount {
  count: number;
}

const rateCountProblem = (value: unknown): string | undefined =>
  typeof value === "object" && value !== null && Number.isSafeInteger((value as RateCount).count)
    ? undefined
    : "not {count}";

const ROUNDS = 16;

/**
 * Per-user rate limit across notifier replicas: a counter per (user, fixed
 * window) in the notify bucket (`r.<user>.<window>`, window =
 * `floor(now / windowMs)`), incremented by compare-and-set. Keys expire with
 * the bucket's TTL.
 *
 * Contract: `take(user, window)` counts one notification and resolves
 * `{allowed: true}` while the window's count is below `limit`; otherwise
 * `{allowed: false, retryAt}` and counts nothing. Concurrent takes on any
 * replicas never allow more than `limit` per window (a lost compare-and-set
 * re-reads). A caller that crashes after a take has used that slot.
 *
 * @example
 *   const rate = new NotificationRate(kv);
 *   const decision = await rate.take("u1", { limit: 6, windowMs: 60_000 });
 *   if (!decision.allowed) msg.nak(decision.retryAt - Date.now());
 */
export class NotificationRate {
  private readonly now: () => number;

  constructor(
    private readonly kv: KV,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async take(user: string, window: RateWindow): Promise<RateDecision> {
    if (!Number.isInteger(window.limit) || window.limit < 1) throw new RangeError("limit must be an integer ≥ 1");
    if (!Number.isInteger(window.windowMs) || window.windowMs < 1) throw new RangeError("windowMs must be ≥ 1");
    for (let round = 0; round < ROUNDS; round++) {
      const index = Math.floor(this.now() / window.windowMs);
      const key = rateKey(user, index);
      const entry = await readEntry(this.kv, key, "rate");
      const count = entry ? (validJson<RateCount>(entry, rateCountProblem)?.count ?? 0) : 0;
      if (count >= window.limit) return { allowed: false, retryAt: (index + 1) * window.windowMs };
      const written = await writeJson(this.kv, key, { count: count + 1 }, entry?.revision ?? 0, "rate");
      if (written !== undefined) return { allowed: true, count: count + 1 };
    }
    throw new ThreadlineError(ErrorCode.UNAVAILABLE, `rate counter of ${user} kept changing`);
  }
}
