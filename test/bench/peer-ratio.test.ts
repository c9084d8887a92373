import { describe, expect, it } from "vitest";
import { type PeerMeasure, perReaderKb, ratioToBestPeer } from "./peer-ratio.ts";

const peer = (name: string, value: number, correct = true): PeerMeasure => ({
  name,
  role: "durable-peer",
  value,
  correct,
});
const floor: PeerMeasure = { name: "plain sse", role: "floor", value: 0.5, correct: true };

describe("ratioToBestPeer", () => {
  it.each<[string, number, PeerMeasure[], { ratio: number; best: string | undefined; excluded: string[] }]>([
    ["the lowest durable peer sets the bar", 20, [peer("a", 40), peer("b", 10)], { ratio: 2, best: "b", excluded: [] }],
    ["ahead of every peer: ratio below 1", 5, [peer("a", 10), peer("b", 20)], { ratio: 0.5, best: "a", excluded: [] }],
    ["the floor is never the bar", 20, [floor, peer("a", 40)], { ratio: 0.5, best: "a", excluded: [] }],
    [
      "a peer that lost or duplicated events is excluded",
      20,
      [peer("fast but lossy", 1, false), peer("a", 40)],
      { ratio: 0.5, best: "a", excluded: ["fast but lossy"] },
    ],
    [
      "a peer without a result is excluded",
      20,
      [peer("failed", Number.NaN), peer("a", 10)],
      { ratio: 2, best: "a", excluded: ["failed"] },
    ],
    [
      "no eligible peer: NaN",
      20,
      [floor, peer("lossy", 1, false)],
      { ratio: Number.NaN, best: undefined, excluded: ["lossy"] },
    ],
    ["no subject value: NaN", Number.NaN, [peer("a", 10)], { ratio: Number.NaN, best: "a", excluded: [] }],
  ])("%s", (_, subject, peers, want) => {
    const got = ratioToBestPeer(subject, peers);
    expect(got.ratio).toBe(want.ratio);
    expect(got.best).toBe(want.best);
    expect(got.excluded.map((e) => e.name)).toEqual(want.excluded);
  });

  it("names why a peer was excluded and reports the bar's value", () => {
    const got = ratioToBestPeer(3, [peer("lossy", 1, false), peer("gone", Number.NaN), peer("a", 6)]);
    expect(got.bestValue).toBe(6);
    expect(got.excluded).toEqual([
      { name: "lossy", reason: "not every event stored and delivered once, in order" },
      { name: "gone", reason: "no result" },
    ]);
  });
});

describe("perReaderKb", () => {
  it.each<[number, number, number, number]>([
    [100, 120, 2048, 10],
    [100, 100, 2000, 0],
    [100, 99, 1024, -1],
    [100, 120, 0, Number.NaN],
  ])("RSS %d MB → %d MB over %d readers: %d KB each", (before, after, readers, want) => {
    expect(perReaderKb(before, after, readers)).toBe(want);
  });
});
