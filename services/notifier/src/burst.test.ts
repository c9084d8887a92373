import { describe, expect, it } from "vitest";
import { type BurstDecision, decideBurst } from "./burst.ts";
import type { Trigger } from "./trigger.ts";

const t = (seq: number, ts: number): Trigger => ({ kind: "turn.end", session: "s", seq, ts, eventId: `e${seq}` });
const seqs = (d: BurstDecision) =>
  d.action === "send" ? { send: d.members.map((m) => m.seq) } : d.action === "collapse" ? { into: d.into.seq } : "skip";

describe("decideBurst", () => {
  const [a, b, c] = [t(10, 0), t(20, 1000), t(30, 2000)];
  it.each([
    ["alone: sends", a, [a], { send: [10] }],
    ["first of three: collapses into the next", a, [a, b, c], { into: 20 }],
    ["second of three: collapses", b, [a, b, c], { into: 30 }],
    ["last of three: sends one for all three", c, [a, b, c], { send: [10, 20, 30] }],
    ["earlier ones already settled (the mark is past them)", c, [c], { send: [30] }],
    ["does not count (muted, answered) and nothing waits: skip", b, [], "skip"],
    ["does not count, but earlier ones wait: sends for them", b, [a], { send: [10] }],
    ["does not count, a later one will send", a, [b], { into: 20 }],
  ] as const)("%s", (_name, trigger, counting, expected) => {
    expect(seqs(decideBurst(trigger, counting, 60_000))).toEqual(expected);
  });

  it("a burst is cut collapseMaxMs after its first trigger, so an endless stream still notifies", () => {
    const stream = Array.from({ length: 10 }, (_, i) => t(i + 1, i * 10_000)); // one every 10 s
    // 60 s window: triggers stored at 0…50 s form the first burst; the one at 50 s sends for six
    expect(seqs(decideBurst(stream[4]!, stream, 60_000))).toEqual({ into: 6 });
    expect(seqs(decideBurst(stream[5]!, stream, 60_000))).toEqual({ send: [1, 2, 3, 4, 5, 6] });
    // after that notification the mark is at seq 6: the next burst starts at 70 s
    expect(seqs(decideBurst(stream[6]!, stream.slice(6), 60_000))).toEqual({ into: 8 });
  });

  it("a burst left waiting (deferred) merges into a later trigger beyond its window", () => {
    const late = t(40, 120_000);
    expect(seqs(decideBurst(late, [a, b, late], 60_000))).toEqual({ send: [10, 20, 40] });
    expect(seqs(decideBurst(b, [a, b, late], 60_000))).toEqual({ send: [10, 20] });
  });

  it("collapseMaxMs 0: nothing collapses", () => {
    expect(seqs(decideBurst(a, [a, b], 0))).toEqual({ send: [10] });
  });
});
