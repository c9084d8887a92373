/**
 * The clock every bucket shares by default: one function, not a closure per
 * bucket (a gateway holds one or two buckets per socket).
 */
const monotonicNow = (): number => performance.now();

/**
 * A token bucket: `rate` tokens per second refill up to `burst`. Pure apart
 * from the injected clock, so it is unit-tested with a fake one. It refills
 * lazily from the clock when asked: no timer, nothing runs while it is idle.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty (the caller refuses the work). */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until `take()` can succeed (0 when it can now): what a `retry-after` says. */
  msUntilToken(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.rate) * 1000;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
}
