import { describe, expect, it } from "vitest";
import {
  isDeviceId,
  isEventId,
  isEventType,
  isParticipantId,
  isSessionId,
  MAX_DEVICE_ID_LENGTH,
  MAX_EVENT_ID_LENGTH,
  MAX_EVENT_TYPE_LENGTH,
  MAX_PARTICIPANT_ID_LENGTH,
  MAX_SESSION_ID_LENGTH,
  newId,
} from "./ids.ts";

describe.each([
  ["isSessionId", isSessionId, MAX_SESSION_ID_LENGTH],
  ["isParticipantId", isParticipantId, MAX_PARTICIPANT_ID_LENGTH],
  ["isDeviceId", isDeviceId, MAX_DEVICE_ID_LENGTH],
])("%s (subject-token grammar)", (_name, isValid, max) => {
  it.each(["a", "A", "0", "_", "-", "chat-42", "User_Name-1", "x".repeat(max)])("accepts %j", (value) => {
    expect(isValid(value)).toBe(true);
  });

  it.each([
    ["empty", ""],
    ["one over the limit", "x".repeat(max + 1)],
    ["a dot (subject separator)", "a.b"],
    ["wildcard *", "*"],
    ["wildcard >", ">"],
    ["space", "a b"],
    ["tab", "a\tb"],
    ["slash", "a/b"],
    ["colon", "a:b"],
    ["non-ASCII letter", "é"],
    ["emoji", "🙂"],
    ["number", 12],
    ["null", null],
    ["undefined", undefined],
    ["object", { id: "a" }],
  ])("rejects %s", (_label, value) => {
    expect(isValid(value)).toBe(false);
  });
});

describe("isEventId", () => {
  it.each(["a", "01J5-abc", "msg:1/2#3", "~!@$%^&*()", "x".repeat(MAX_EVENT_ID_LENGTH)])("accepts %j", (value) => {
    expect(isEventId(value)).toBe(true);
  });

  it.each([
    ["empty", ""],
    ["too long", "x".repeat(MAX_EVENT_ID_LENGTH + 1)],
    ["space", "a b"],
    ["newline", "a\nb"],
    ["DEL", "a\x7f"],
    ["non-ASCII", "é"],
    ["number", 1],
  ])("rejects %s", (_label, value) => {
    expect(isEventId(value)).toBe(false);
  });
});

describe("isEventType", () => {
  it.each(["input", "message.append", "presence.join", "tool.result", "a1", "x_y-z.w_2", "a.0"])(
    "accepts %j",
    (value) => {
      expect(isEventType(value)).toBe(true);
    },
  );

  it.each([
    ["empty", ""],
    ["uppercase", "Input"],
    ["leading digit", "1input"],
    ["leading dot", ".input"],
    ["trailing dot", "input."],
    ["double dot", "a..b"],
    ["space", "a b"],
    ["too long", `a${"b".repeat(MAX_EVENT_TYPE_LENGTH)}`],
    ["number", 5],
  ])("rejects %s", (_label, value) => {
    expect(isEventType(value)).toBe(false);
  });

  it("accepts exactly the maximum length", () => {
    expect(isEventType("a".repeat(MAX_EVENT_TYPE_LENGTH))).toBe(true);
  });
});

describe("newId", () => {
  it("is a valid event id and participant-safe token, unique across many calls", () => {
    const ids = Array.from({ length: 10_000 }, () => newId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 100)) {
      expect(isEventId(id)).toBe(true);
      expect(isSessionId(id)).toBe(true);
      expect(id).toMatch(/^[0-9a-z]+$/);
    }
  });

  it("random parts never repeat across refills of the random-byte pool (256 ids per refill)", () => {
    // Without this the timestamp prefix could hide a pool handing out the same bytes twice.
    const suffixes = Array.from({ length: 5_000 }, () => newId().slice(-16));
    expect(new Set(suffixes).size).toBe(suffixes.length);
  });

  it("starts with the base36 millisecond timestamp, so ids sort by creation time across milliseconds", () => {
    const before = Date.now();
    const id = newId();
    const after = Date.now();
    const stamp = id.slice(0, id.length - 16);
    expect(Number.parseInt(stamp, 36)).toBeGreaterThanOrEqual(before);
    expect(Number.parseInt(stamp, 36)).toBeLessThanOrEqual(after);
    expect(id.length - stamp.length).toBe(16);
  });
});
