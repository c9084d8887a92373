import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HedgeBudget, hedged } from "./hedge.ts";

/** A scripted request: each call answers (or fails, or never settles) after its own delay. */
function scripted(plan: Array<{ ms: number; value?: string; error?: string } | "never">) {
  let calls = 0;
  const request = () => {
    const step = plan[calls++];
    if (step === undefined) throw new Error("unplanned request");
    if (step === "never") return new Promise<string>(() => {});
    return new Promise<string>((resolve, reject) =>
      setTimeout(() => (step.error ? reject(new Error(step.error)) : resolve(step.value ?? "")), step.ms),
    );
  };
  return { request, calls: () => calls };
}

describe("hedged (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a request answered before afterMs: no second request", async () => {
    const { request, calls } = scripted([{ ms: 100, value: "a" }]);
    const discarded: string[] = [];
    const result = hedged(request, { afterMs: 500, discard: (r) => discarded.push(r) });
    await vi.advanceTimersByTimeAsync(100);
    await expect(result).resolves.toBe("a");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls()).toBe(1);
    expect(discarded).toEqual([]);
  });

  it("a request never answered: the hedge's answer is used", async () => {
    const { request, calls } = scripted(["never", { ms: 50, value: "b" }]);
    const result = hedged(request, { afterMs: 500, discard: () => {} });
    await vi.advanceTimersByTimeAsync(550);
    await expect(result).resolves.toBe("b");
    expect(calls()).toBe(2);
  });

  it("the slower of two answers is discarded", async () => {
    const { request } = scripted([
      { ms: 1_500, value: "slow" },
      { ms: 100, value: "fast" },
    ]);
    const discarded: string[] = [];
    const result = hedged(request, { afterMs: 500, discard: (r) => discarded.push(r) });
    await vi.advanceTimersByTimeAsync(600);
    await expect(result).resolves.toBe("fast");
    expect(discarded).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(discarded).toEqual(["slow"]);
  });

  it("a request that fails before afterMs fails at once; both failing rejects with the first's error", async () => {
    const quick = scripted([{ ms: 10, error: "refused" }]);
    const failed = expect(hedged(quick.request, { afterMs: 500, discard: () => {} })).rejects.toThrow("refused");
    await vi.advanceTimersByTimeAsync(10);
    await failed;
    expect(quick.calls()).toBe(1);

    const both = scripted([
      { ms: 2_000, error: "first" },
      { ms: 100, error: "second" },
    ]);
    const bothFailed = expect(hedged(both.request, { afterMs: 500, discard: () => {} })).rejects.toThrow("first");
    await vi.advanceTimersByTimeAsync(2_000);
    await bothFailed;
  });

  it("without budget left the first request is simply awaited; a settled hedge gives its budget back", async () => {
    const budget = new HedgeBudget(1);
    const a = scripted(["never", { ms: 1_000, value: "a2" }]);
    const b = scripted([{ ms: 700, value: "b1" }]);
    const ra = hedged(a.request, { afterMs: 500, discard: () => {}, budget });
    await vi.advanceTimersByTimeAsync(500);
    expect(budget.used).toBe(1);
    const rb = hedged(b.request, { afterMs: 500, discard: () => {}, budget });
    await vi.advanceTimersByTimeAsync(700);
    await expect(rb).resolves.toBe("b1");
    expect(b.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(300);
    await expect(ra).resolves.toBe("a2");
    expect(budget.used).toBe(0);
  });
});
