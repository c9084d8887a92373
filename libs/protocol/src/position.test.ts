import { describe, expect, it } from "vitest";
import { comparePositions, epochFromStreamCreated, isPosition, isSeq, maxPosition } from "./position.ts";

describe("isSeq", () => {
  it.each([
    [0, true],
    [1, true],
    [Number.MAX_SAFE_INTEGER, true],
    [-1, false],
    [1.5, false],
    [Number.MAX_SAFE_INTEGER + 1, false],
    [Number.NaN, false],
    [Number.POSITIVE_INFINITY, false],
    ["1", false],
    [1n, false],
    [null, false],
  ])("%s → %s", (value, expected) => {
    expect(isSeq(value)).toBe(expected);
  });
});

describe("isPosition", () => {
  it.each([
    [{ epoch: "abc", seq: 0 }, true],
    [{ epoch: "e".repeat(64), seq: 42 }, true],
    [{ epoch: "abc", seq: 1, extra: true }, true],
    [{ epoch: "abc", seq: 7, id: "evt-7" }, true],
    [{ epoch: "abc", seq: 7, id: "" }, false],
    [{ epoch: "abc", seq: 7, id: "has space" }, false],
    [{ epoch: "abc", seq: 7, id: 7 }, false],
    [{ epoch: "", seq: 1 }, false],
    [{ epoch: "e".repeat(65), seq: 1 }, false],
    [{ epoch: 1, seq: 1 }, false],
    [{ epoch: "abc", seq: -1 }, false],
    [{ epoch: "abc", seq: "1" }, false],
    [{ epoch: "abc" }, false],
    [{ seq: 1 }, false],
    [null, false],
    ["abc:1", false],
    [[1, 2], false],
  ])("%j → %s", (value, expected) => {
    expect(isPosition(value)).toBe(expected);
  });
});

describe("comparePositions / maxPosition", () => {
  it.each([
    [1, 2, -1],
    [2, 1, 1],
    [5, 5, 0],
    [0, Number.MAX_SAFE_INTEGER, -1],
  ])("seq %i vs %i → %i", (a, b, expected) => {
    expect(comparePositions({ epoch: "e", seq: a }, { epoch: "e", seq: b })).toBe(expected);
  });

  it("throws for positions of different epochs instead of ordering them", () => {
    expect(() => comparePositions({ epoch: "a", seq: 1 }, { epoch: "b", seq: 2 })).toThrow(RangeError);
    expect(() => maxPosition({ epoch: "a", seq: 1 }, { epoch: "b", seq: 2 })).toThrow(RangeError);
  });

  it("maxPosition returns the later one (the first on a tie)", () => {
    const a = { epoch: "e", seq: 3 };
    const b = { epoch: "e", seq: 7 };
    const a2 = { epoch: "e", seq: 3 };
    expect(maxPosition(a, b)).toBe(b);
    expect(maxPosition(b, a)).toBe(b);
    expect(maxPosition(a, a2)).toBe(a);
  });
});

describe("epochFromStreamCreated", () => {
  it("is FNV-1a 64 in base36, padded to 13 characters", () => {
    // FNV-1a 64 reference values: offset basis for "", 0xaf63dc4c8601ec8c for "a".
    expect(epochFromStreamCreated("")).toBe(0xcbf29ce484222325n.toString(36).padStart(13, "0"));
    expect(epochFromStreamCreated("a")).toBe(0xaf63dc4c8601ec8cn.toString(36).padStart(13, "0"));
    expect(epochFromStreamCreated("foobar")).toBe(0x85944171f73967e8n.toString(36).padStart(13, "0"));
  });

  it("is stable, 13 base36 characters, and a valid position epoch", () => {
    const created = "2026-11-21T23:35:04.278204952Z";
    const epoch = epochFromStreamCreated(created);
    expect(epochFromStreamCreated(created)).toBe(epoch);
    expect(epoch).toMatch(/^[0-9a-z]{13}$/);
    expect(isPosition({ epoch, seq: 0 })).toBe(true);
  });

  it("changes when the stream is recreated, even a nanosecond later", () => {
    const epochs = new Set(
      [
        "2026-11-21T23:35:04.278204952Z",
        "2026-11-21T23:35:04.278204953Z",
        "2026-11-21T23:35:04.278204962Z",
        "2026-11-21T23:35:05.278204952Z",
        "2026-11-22T23:35:04.278204952Z",
      ].map(epochFromStreamCreated),
    );
    expect(epochs.size).toBe(5);
  });
});
