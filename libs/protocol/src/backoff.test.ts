import { describe, expect, it } from "vitest";
import { backoffDelay, canRetry, DEFAULT_BACKOFF, resolveBackoff } from "./backoff.ts";

const noJitter = resolveBackoff({ jitter: 0 });

describe("backoffDelay", () => {
  it.each([
    [1, 250],
    [2, 500],
    [3, 1000],
    [6, 8000],
    [7, 10_000],
    [50, 10_000],
    [1_000_000, 10_000],
  ])("attempt %i without jitter waits %i ms", (attempt, expected) => {
    expect(backoffDelay(attempt, noJitter)).toBe(expected);
  });

  it("spreads ±jitter around the base and never exceeds maxDelayMs", () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0)).toBe(125);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0.5)).toBe(250);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0.999999)).toBe(375);
    // At the cap the upper half of the jitter is clipped.
    expect(backoffDelay(10, DEFAULT_BACKOFF, () => 0)).toBe(5_000);
    expect(backoffDelay(10, DEFAULT_BACKOFF, () => 0.999999)).toBe(10_000);
  });

  it("honours custom policies", () => {
    const policy = resolveBackoff({ initialDelayMs: 10, factor: 3, maxDelayMs: 100, jitter: 0 });
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, policy))).toEqual([10, 30, 90, 100]);
    expect(backoffDelay(5, resolveBackoff({ initialDelayMs: 0 }))).toBe(0);
  });

  it("rejects attempts below 1", () => {
    expect(() => backoffDelay(0, DEFAULT_BACKOFF)).toThrow(RangeError);
    expect(() => backoffDelay(1.5, DEFAULT_BACKOFF)).toThrow(RangeError);
  });
});

describe("resolveBackoff", () => {
  it("fills the protocol's recommended defaults", () => {
    expect(resolveBackoff()).toEqual({
      initialDelayMs: 250,
      maxDelayMs: 10_000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: Number.POSITIVE_INFINITY,
    });
  });

  it.each([
    [{ initialDelayMs: -1 }],
    [{ maxDelayMs: Number.NaN }],
    [{ factor: 0.5 }],
    [{ jitter: 1.5 }],
    [{ maxAttempts: -1 }],
    [{ maxAttempts: 2.5 }],
  ])("rejects %j", (options) => {
    expect(() => resolveBackoff(options)).toThrow(RangeError);
  });
});

describe("canRetry", () => {
  it("allows attempts up to maxAttempts", () => {
    const policy = resolveBackoff({ maxAttempts: 2 });
    expect([1, 2, 3].map((a) => canRetry(a, policy))).toEqual([true, true, false]);
    expect(canRetry(1, resolveBackoff({ maxAttempts: 0 }))).toBe(false);
    expect(canRetry(1e9, DEFAULT_BACKOFF)).toBe(true);
  });
});
