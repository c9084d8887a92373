import { describe, expect, it } from "vitest";
import { errorForClose } from "./close-errors.ts";

describe("errorForClose", () => {
  it.each([
    [1000, "CLOSED", false],
    [1001, "CLOSED", true],
    [1006, "CLOSED", true],
    [1009, "FRAME_TOO_LARGE", false],
    [1011, "CLOSED", true],
    [4000, "CLOSED", true],
    [4001, "SLOW_CONSUMER", true],
    [4002, "UNAVAILABLE", true],
    [4003, "RATE_LIMITED", true],
    [4004, "CLOSED", true],
    [4005, "TOO_MANY_CONNECTIONS", true],
    [4500, "AUTH_FAILED", false],
    [4501, "TOKEN_EXPIRED", false],
    [4502, "AUTH_FAILED", false],
    [4503, "INVALID_FRAME", false],
    [4504, "FORBIDDEN", false],
    [4999, "CLOSED", false],
  ])("close %i → %s (retryable %s)", (code, expected, retryable) => {
    const error = errorForClose(code, "why");
    expect([error.code, error.retryable]).toEqual([expected, retryable]);
    expect(error.message).toBe(`socket closed: ${code} why`);
  });
});
