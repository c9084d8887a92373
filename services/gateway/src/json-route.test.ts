import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { errorAnswer, httpStatusOf, RetryAfterError } from "./json-route.ts";

describe("httpStatusOf (pure)", () => {
  it.each([
    [ErrorCode.INVALID_SESSION, 400],
    [ErrorCode.INVALID_SUBSCRIPTION, 400],
    [ErrorCode.INVALID_PREFERENCES, 400],
    [ErrorCode.AUTH_FAILED, 401],
    [ErrorCode.TOKEN_EXPIRED, 401],
    [ErrorCode.FORBIDDEN, 403],
    [ErrorCode.PUSH_HOST_NOT_ALLOWED, 403],
    [ErrorCode.PUSH_DISABLED, 404],
    [ErrorCode.PREFERENCES_CONFLICT, 409],
    [ErrorCode.PAYLOAD_TOO_LARGE, 413],
    [ErrorCode.RATE_LIMITED, 429],
    [ErrorCode.UNAVAILABLE, 503],
    [ErrorCode.CLOSED, 503],
    [ErrorCode.INTERNAL, 500],
    [ErrorCode.BAD_FRAME, 500],
  ])("%s → %i", (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
  });
});

describe("error answers", () => {
  it("carry {code, message, retryable} and the status", () => {
    expect(errorAnswer(new ThreadlineError(ErrorCode.PREFERENCES_CONFLICT, "stale"))).toEqual({
      status: 409,
      body: { code: "PREFERENCES_CONFLICT", message: "stale", retryable: false },
      headers: [],
    });
  });

  it("a RetryAfterError adds retry-after in whole seconds, at least 1", () => {
    const limited = new ThreadlineError(ErrorCode.RATE_LIMITED, "slow down");
    expect(new RetryAfterError(limited, 1_200).answer()).toMatchObject({
      status: 429,
      headers: [["retry-after", "2"]],
    });
    expect(new RetryAfterError(limited, 10).answer().headers).toEqual([["retry-after", "1"]]);
    expect(new RetryAfterError(limited, 10).answer().body).toMatchObject({ code: "RATE_LIMITED", retryable: true });
  });
});
