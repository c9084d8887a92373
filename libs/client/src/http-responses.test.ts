import { ErrorCode } from "@threadline/protocol";
import { describe, expect, test } from "vitest";
import { errorOfResponse, logMessages } from "./http-responses.ts";

describe("errorOfResponse", () => {
  test.each([
    [
      "a Threadline code in the body wins",
      409,
      { code: "TURN_ENDED", message: "ended", retryable: false },
      "TURN_ENDED",
      false,
    ],
    [
      "publish refusal retryability as sent",
      503,
      { code: "PUBLISH_FAILED", message: "x", retryable: true },
      "PUBLISH_FAILED",
      true,
    ],
    ["auth", 401, { code: "TOKEN_EXPIRED", message: "x", retryable: false }, "TOKEN_EXPIRED", false],
    [
      "410 GONE is INSUFFICIENT_STATE",
      410,
      { code: "GONE", message: "read from -1", retryable: false },
      "INSUFFICIENT_STATE",
      false,
    ],
    ["a Durable Streams 400", 400, { code: "BAD_REQUEST", message: "offset" }, "INVALID_FRAME", false],
    ["429 without a body", 429, undefined, "RATE_LIMITED", true],
    ["a proxy's 502", 502, "<html>", "UNAVAILABLE", true],
    ["a 404 (no such route)", 404, { code: "NOT_FOUND", message: "no stream" }, "UNAVAILABLE", true],
  ])("%s", (_, status, body, code, retryable) => {
    const error = errorOfResponse(status, body, "s1");
    expect(error).toMatchObject({ code, retryable, session: "s1" });
    expect(Object.values(ErrorCode)).toContain(error.code);
  });
});

describe("logMessages", () => {
  const event = { id: "e1", type: "note", from: { kind: "agent", id: "a" }, ts: 1, data: {} };
  test("keeps {epoch, seq, event} messages and drops other shapes", () => {
    expect(
      logMessages([
        { epoch: "e", seq: 3, event },
        { epoch: "e", seq: -1, event },
        { epoch: 1, seq: 4, event },
        { epoch: "e", seq: 5, event: { type: 7 } },
        null,
        "x",
      ]),
    ).toEqual([{ epoch: "e", seq: 3, event }]);
  });
  test("not an array: undefined", () => {
    expect(logMessages({ seq: 1 })).toBeUndefined();
  });
});
