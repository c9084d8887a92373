import { TokenBucket } from "./token-bucket.ts";

/** The per-user budget of HTTP API writes (push subscriptions, notification preferences). */
export interface HttpWriteLimits {
  /** Sustained writes per minute per user. */
  perMinute: number;
  /** Writes a user may make at once before the rate applies. */
  burst: number;
}

/** Users whose write budget one gateway remembers by default. */
export const DEFAULT_HTTP_WRITE_USERS = 10_000;

/**
 * Per-user token buckets for the HTTP API's writes, on one gateway replica
 * (N replicas allow N times the figures, like the socket limits). Bounded:
 * at most `maxUsers` buckets, least recently used first out — a user whose
 * bucket is dropped starts again with a full burst, which only matters when
 * more than `maxUsers` users write within one refill period.
 *
 * @example
 *   const limiter = new HttpWriteLimiter({ perMinute: 30, burst: 10 });
 *   const waitMs = limiter.take("alice");
 *   if (waitMs > 0) reply(429, { "retry-after": Math.ceil(waitMs / 1000) });
 */
export class HttpWriteLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limits: HttpWriteLimits,
    private readonly maxUsers = DEFAULT_HTTP_WRITE_USERS,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limits.perMinute > 0) || !(limits.burst >= 1)) throw new RangeError("perMinute must be > 0 and burst ≥ 1");
    if (!Number.isInteger(maxUsers) || maxUsers < 1) throw new RangeError("maxUsers must be an integer ≥ 1");
  }

  /** Takes one write from `user`'s budget: 0 when allowed, else the milliseconds until one is (nothing taken). */
  take(user: string): number {
    let bucket = this.buckets.get(user);
    if (bucket) this.buckets.delete(user);
    else bucket = new TokenBucket(this.limits.perMinute / 60, this.limits.burst, this.now);
    this.buckets.set(user, bucket); // most recently used last
    if (this.buckets.size > this.maxUsers) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return bucket.take() ? 0 : Math.max(1, Math.ceil(bucket.msUntilToken()));
  }

  /** Users with a remembered budget (≤ `maxUsers`). */
  get size(): number {
    return this.buckets.size;
  }
}
