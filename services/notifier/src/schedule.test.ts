import { describe, expect, it } from "vitest";
import { CLOCK_GRACE_MS, delayUntil, dueAt, isStale, triggerWindow } from "./schedule.ts";
import type { Trigger } from "./trigger.ts";

const trigger: Trigger = { kind: "turn.end", session: "s", seq: 50, ts: 10_000_000, eventId: "e" };

describe("schedule", () => {
  it("due delayMs after the stream timestamp", () => {
    expect(dueAt(trigger, 5000)).toBe(10_005_000);
  });

  it.each([
    [10_000_000 + 3_600_000, false],
    [10_000_000 + 3_600_001, true],
  ])("stale at %i: %s", (now, stale) => {
    expect(isStale(trigger, now, 3_600_000)).toBe(stale);
  });

  it.each([
    ["no mark: maxAge before the trigger", { seq: 0, ts: 0 }, { after: 0, since: 10_000_000 - 3_600_000 }],
    [
      "a recent mark: from its time (with grace), after its seq",
      { seq: 40, ts: 9_990_000 },
      { after: 40, since: 9_990_000 - CLOCK_GRACE_MS },
    ],
    ["an old mark: still no earlier than maxAge", { seq: 3, ts: 5 }, { after: 3, since: 10_000_000 - 3_600_000 }],
  ])("window: %s", (_name, mark, expected) => {
    expect(triggerWindow(trigger, mark, 3_600_000)).toEqual(expected);
  });

  it("redelivery delays are at least 10 ms and rounded up", () => {
    expect(delayUntil(100, 100)).toBe(10);
    expect(delayUntil(150.2, 100)).toBe(51);
    expect(delayUntil(50, 100)).toBe(10);
  });
});
