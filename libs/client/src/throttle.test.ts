import { describe, expect, it } from "vitest";
import { Throttle } from "./throttle.ts";

describe("Throttle", () => {
  it("runs the first call at once and coalesces the rest into one run at the end of the interval", async () => {
    const runs: number[] = [];
    const started = Date.now();
    let done!: () => void;
    const second = new Promise<void>((r) => {
      done = r;
    });
    const throttle = new Throttle(50, () => {
      runs.push(Date.now() - started);
      if (runs.length === 2) done();
      return true;
    });
    throttle.schedule();
    throttle.schedule();
    throttle.schedule();
    expect(runs).toHaveLength(1);
    await second;
    expect(runs).toHaveLength(2);
    expect(runs[1]).toBeGreaterThanOrEqual(45);
  });

  it("a no-op run does not start an interval; runNow and cancel drop the scheduled run", () => {
    let calls = 0;
    let result = false;
    const throttle = new Throttle(60_000, () => {
      calls++;
      return result;
    });
    throttle.schedule();
    throttle.schedule(); // the first did nothing: runs again at once
    expect(calls).toBe(2);
    result = true;
    throttle.schedule();
    throttle.schedule(); // now inside an interval: scheduled for later
    expect(calls).toBe(3);
    throttle.runNow();
    expect(calls).toBe(4);
    throttle.schedule();
    throttle.cancel();
    expect(calls).toBe(4);
  });
});
