import { backoffDelay } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { RetryPolicy, redeliveryDelay, retryDelay, sleep, withDeadline } from "./retry.ts";

describe("retry schedules", () => {
  const mid = () => 0.5; // no jitter: the schedule's centre
  it.each([
    ["publish", RetryPolicy.publish, [100, 200, 400, 800, 1600, 2000, 2000]],
    ["consumer", RetryPolicy.consumer, [100, 200, 400, 800, 1600, 3200, 5000]],
    ["historyRead", RetryPolicy.historyRead, [100, 200, 400, 800, 1600, 2000, 2000]],
  ] as const)("%s: doubling from 100 ms to its cap", (_name, policy, expected) => {
    expect(expected.map((_, i) => backoffDelay(i + 1, policy, mid))).toEqual(expected);
    expect(retryDelay(0, policy)).toBeLessThanOrEqual(expected[0] * 1.5); // attempt 0 is treated as the first
  });

  it.each([
    ["webhook", RetryPolicy.webhook, [1000, 2000, 4000, 8000, 16000, 32000, 60000]],
    ["push", RetryPolicy.push, [500, 1000, 2000, 4000, 8000, 10000]],
  ] as const)("%s: the notifier's delivery retries", (_name, policy, expected) => {
    expect(expected.map((_, i) => backoffDelay(i + 1, policy, mid))).toEqual(expected);
  });

  it("jitter stays within the policy's spread and never above the cap", () => {
    for (const r of [0, 0.25, 0.999]) {
      const d = backoffDelay(1, RetryPolicy.publish, () => r);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(150);
      expect(backoffDelay(30, RetryPolicy.publish, () => r)).toBeLessThanOrEqual(2000);
    }
  });

  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [6, 30000],
    [0, 1000],
  ])("redelivery %i → %i ms (nakDelayMs 1000, max 30 s)", (count, ms) => {
    expect(redeliveryDelay(count, 1000, 30_000)).toBe(ms);
  });

  it("sleep ends early on abort", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const slept = sleep(60_000, controller.signal);
    controller.abort();
    await slept;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("withDeadline", () => {
  it("passes a result or an error that comes in time through", async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, () => new Error("late"))).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error("no")), 1_000, () => new Error("late"))).rejects.toThrow("no");
  });

  it("rejects with the given error when the work never settles", async () => {
    const started = Date.now();
    await expect(withDeadline(new Promise(() => {}), 30, () => new Error("late"))).rejects.toThrow("late");
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});
