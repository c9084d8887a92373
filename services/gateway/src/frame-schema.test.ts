import { describe, expect, it } from "vitest";
import { FrameError, parseClientFrame } from "./frame-schema.ts";

const code = (input: unknown) => {
  try {
    parseClientFrame(input);
    return "OK";
  } catch (e) {
    return e instanceof FrameError ? `${e.code}${e.rid === undefined ? "" : `#${e.rid}`}` : "THROWN";
  }
};

describe("parseClientFrame", () => {
  it.each([
    [{ op: "hello", token: "t", device: "d-1" }, "OK"],
    [{ op: "attach", rid: 1, session: "s" }, "OK"],
    [{ op: "attach", rid: 1, session: "s", from: "start" }, "OK"],
    [{ op: "attach", rid: 1, session: "s", from: { epoch: "e", seq: 5 } }, "OK"],
    [{ op: "attach", rid: 1, session: "s", from: "now", state: true }, "OK"],
    [{ op: "publish", rid: 2, session: "s", event: { type: "input", data: { text: "hi" } } }, "OK"],
    [{ op: "ack", session: "s", seq: 3 }, "OK"],
    [{ op: "ping", rid: 9, extra: "ignored" }, "OK"],
    [null, "BAD_FRAME"],
    ["ping", "BAD_FRAME"],
    [[{ op: "ping" }], "BAD_FRAME"],
    [{ rid: 3 }, "UNKNOWN_OP#3"],
    [{ op: "subscribe", rid: 4 }, "UNKNOWN_OP#4"],
    [{ op: "attach", rid: 5 }, "INVALID_FRAME#5"],
    [{ op: "attach", rid: 5, session: "a.b" }, "INVALID_FRAME#5"],
    [{ op: "attach", rid: 5, session: "x".repeat(129) }, "INVALID_FRAME#5"],
    [{ op: "attach", rid: 5, session: "s", from: "yesterday" }, "INVALID_FRAME#5"],
    [{ op: "attach", rid: 5, session: "s", from: { epoch: "e", seq: 1.5 } }, "INVALID_FRAME#5"],
    [{ op: "attach", rid: 5, session: "s", state: "yes" }, "INVALID_FRAME#5"],
    [{ op: "attach", rid: -1, session: "s" }, "INVALID_FRAME"],
    [{ op: "publish", rid: 6, session: "s", event: { type: "Input!" } }, "INVALID_FRAME#6"],
    [{ op: "publish", rid: 6, session: "s", event: { type: "input", id: "has space" } }, "INVALID_FRAME#6"],
    [{ op: "ack", session: "s", seq: "7" }, "INVALID_FRAME"],
    [{ op: "hello", device: "bad device" }, "INVALID_FRAME"],
    [{ op: "hello", token: "t", accept: ["events"] }, "OK"],
    [{ op: "hello", token: "t", accept: [] }, "OK"],
    [{ op: "hello", token: "t", accept: ["events", "from-the-future"] }, "OK"],
    [{ op: "hello", token: "t", accept: Array.from({ length: 16 }, (_, i) => `f${i}`) }, "OK"],
    [{ op: "hello", token: "t", accept: Array.from({ length: 17 }, (_, i) => `f${i}`) }, "INVALID_FRAME"],
    [{ op: "hello", token: "t", accept: ["x".repeat(33)] }, "INVALID_FRAME"],
    [{ op: "hello", token: "t", accept: "events" }, "INVALID_FRAME"],
    [{ op: "hello", token: "t", accept: [1] }, "INVALID_FRAME"],
  ])("%j → %s", (input, expected) => {
    expect(code(input)).toBe(expected);
  });
});
