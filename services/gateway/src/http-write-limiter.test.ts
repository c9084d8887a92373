import { describe, expect, it } from "vitest";
import { HttpWriteLimiter } from "./http-write-limiter.ts";

function clock() {
  let t = 0;
  return {
    now: () => t,
    advance: (ms: number): void => {
      t += ms;
    },
  };
}

describe("HttpWriteLimiter", () => {
  it("allows a burst per user, then says how long to wait; users do not share a budget", () => {
    const time = clock();
    const limiter = new HttpWriteLimiter({ perMinute: 6, burst: 2 }, 100, time.now); // one write per 10 s
    expect([limiter.take("alice"), limiter.take("alice")]).toEqual([0, 0]);
    expect(limiter.take("alice")).toBe(10_000);
    expect(limiter.take("bob")).toBe(0);
    time.advance(4_000);
    expect(limiter.take("alice")).toBe(6_000);
    time.advance(6_000);
    expect([limiter.take("alice"), limiter.take("alice")]).toEqual([0, 10_000]);
  });

  it("remembers at most maxUsers users, dropping the least recently used", () => {
    const time = clock();
    const limiter = new HttpWriteLimiter({ perMinute: 1, burst: 1 }, 2, time.now);
    expect(limiter.take("a")).toBe(0);
    limiter.take("b");
    expect(limiter.take("a")).toBeGreaterThan(0); // a is now the most recent, b the least
    limiter.take("c"); // evicts b
    expect(limiter.size).toBe(2);
    expect(limiter.take("a")).toBeGreaterThan(0); // still remembered: still limited
    expect(limiter.take("b")).toBe(0); // forgotten: a fresh burst (the documented cost of the bound)
  });

  it("refuses nonsensical limits", () => {
    expect(() => new HttpWriteLimiter({ perMinute: 0, burst: 1 })).toThrow(RangeError);
    expect(() => new HttpWriteLimiter({ perMinute: 1, burst: 0 })).toThrow(RangeError);
    expect(() => new HttpWriteLimiter({ perMinute: 1, burst: 1 }, 0)).toThrow(RangeError);
  });
});
