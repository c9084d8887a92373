import { describe, expect, it } from "vitest";
import { TokenBucket } from "./token-bucket.ts";

describe("TokenBucket", () => {
  it("allows a burst, refuses past it, and refills at the rate", () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now += 100; // 10/s → one token per 100 ms
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now += 10_000; // refill is capped at the burst
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });
});

describe("TokenBucket.msUntilToken", () => {
  it("says how long until the next token", () => {
    let now = 0;
    const bucket = new TokenBucket(2, 2, () => now); // one token per 500 ms
    expect(bucket.msUntilToken()).toBe(0);
    bucket.take();
    bucket.take();
    expect(bucket.msUntilToken()).toBe(500);
    now += 200;
    expect(bucket.msUntilToken()).toBeCloseTo(300, 6);
    now += 300;
    expect([bucket.msUntilToken(), bucket.take(), bucket.take()]).toEqual([0, true, false]);
  });
});
