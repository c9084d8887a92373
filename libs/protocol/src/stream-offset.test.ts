import { describe, expect, test } from "vitest";
import { epochDigits, formatOffset, offsetSeq, parseOffset, ZERO_OFFSET } from "./stream-offset.ts";

const EPOCH = "0k2n3f8x1q9zz";

describe("offsets", () => {
  test("an offset is 16 epoch digits, an underscore and the seq zero-padded to 16 digits", () => {
    expect(formatOffset(EPOCH, 42)).toMatch(/^\d{16}_0{14}42$/);
    expect(formatOffset(EPOCH, 42).startsWith(epochDigits(EPOCH))).toBe(true);
  });

  test("offsets of one instance sort like their seqs", () => {
    const seqs = [0, 1, 9, 10, 99, 100, 123_456, 2 ** 53 - 1];
    const offsets = seqs.map((seq) => formatOffset(EPOCH, seq));
    expect([...offsets].sort()).toEqual(offsets);
  });

  test("different epochs give different epoch digits", () => {
    expect(epochDigits(EPOCH)).not.toBe(epochDigits("0k2n3f8x1q9zy"));
  });

  test.each([
    [undefined, { kind: "start" }],
    ["-1", { kind: "start" }],
    [ZERO_OFFSET, { kind: "start" }],
    ["now", { kind: "now" }],
    [formatOffset(EPOCH, 7), { kind: "after", seq: 7 }],
    [formatOffset("other", 7), { kind: "other-epoch" }],
    ["", { kind: "invalid" }],
    ["0,1", { kind: "invalid" }],
    ["0 1", { kind: "invalid" }],
    ["12_34", { kind: "invalid" }],
    ["../../etc", { kind: "invalid" }],
    [`${epochDigits(EPOCH)}_9999999999999999`, { kind: "invalid" }],
  ])("parseOffset(%j)", (value, expected) => {
    expect(parseOffset(value, EPOCH)).toEqual(expected);
  });

  test.each([
    [formatOffset(EPOCH, 0), 0],
    [formatOffset(EPOCH, 123_456), 123_456],
    ["-1", undefined],
    ["now", undefined],
    [`${epochDigits(EPOCH)}_9999999999999999`, undefined],
  ])("offsetSeq(%j)", (value, expected) => {
    expect(offsetSeq(value)).toBe(expected);
  });
});
