import { describe, expect, it } from "vitest";
import { liveStages } from "./peer-stages.ts";

describe("liveStages", () => {
  it("splits each receipt at its event's stored time; the store hop counts once per event, not per reader", () => {
    const stored = [
      new Map([
        [10, 1_001],
        [11, 1_050],
      ]),
      new Map([[12, 2_004]]),
    ];
    const stages = liveStages(
      [
        { stream: 0, positions: [10, 11], sentAt: [1_000, 1_048], receivedAt: [1_003, 1_051] },
        { stream: 0, positions: [10, 11], sentAt: [1_000, 1_048], receivedAt: [1_011, 1_052] },
        { stream: 1, positions: [12], sentAt: [2_000], receivedAt: [2_005] },
      ],
      stored,
    );
    expect(stages.toStored.count).toBe(3);
    expect([stages.toStored.p50, stages.toStored.max]).toEqual([2, 4]);
    expect(stages.storedToReader.count).toBe(5);
    expect([stages.storedToReader.p50, stages.storedToReader.max]).toEqual([2, 10]); // 2, 1, 10, 2, 1
    expect(stages.unmatched).toBe(0);
  });

  it("counts receipts it cannot split: no stored time for the position, or no send time", () => {
    const stages = liveStages(
      [{ stream: 0, positions: [1, 2, 3], sentAt: [5, Number.NaN, 5], receivedAt: [9, 9, 9] }],
      [new Map([[1, 6]])],
    );
    expect(stages.unmatched).toBe(2);
    expect(stages.storedToReader.count).toBe(1);
    expect(stages.toStored.p99).toBe(1);
  });
});
