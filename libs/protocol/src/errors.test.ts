import { describe, expect, it } from "vitest";
import { ErrorCode, isErrorCode, isRetryableCode, ThreadlineError, type WireError } from "./errors.ts";

const RETRYABLE_CODES = [
  "ATTACH_IN_PROGRESS",
  "RATE_LIMITED",
  "TOO_MANY_CONNECTIONS",
  "TOO_MANY_PENDING",
  "PUBLISH_FAILED",
  "UNAVAILABLE",
  "SLOW_CONSUMER",
  "TIMEOUT",
  "CLOSED",
  "INTERNAL",
];

describe("ErrorCode", () => {
  it("every code's value is its name (the wire string)", () => {
    for (const [name, value] of Object.entries(ErrorCode)) expect(value).toBe(name);
  });

  it.each(Object.values(ErrorCode))("%s has the documented retryability", (code) => {
    expect(isRetryableCode(code)).toBe(RETRYABLE_CODES.includes(code));
  });

  it.each([
    ["a known code", "FORBIDDEN", true],
    ["an unknown code", "NOPE", false],
    ["lowercase", "forbidden", false],
    ["an Object.prototype key", "toString", false],
    ["__proto__", "__proto__", false],
    ["a number", 1, false],
    ["undefined", undefined, false],
  ])("isErrorCode: %s → %s", (_name, value, expected) => {
    expect(isErrorCode(value)).toBe(expected);
  });

  it("isRetryableCode is false for unknown codes", () => {
    expect(isRetryableCode("NOPE")).toBe(false);
  });
});

describe("ThreadlineError", () => {
  it("is an Error with code, retryable from the table, session and cause", () => {
    const cause = new Error("nats timeout");
    const error = new ThreadlineError(ErrorCode.PUBLISH_FAILED, "not stored", { session: "s1", cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ThreadlineError");
    expect(error.code).toBe("PUBLISH_FAILED");
    expect(error.retryable).toBe(true);
    expect(error.session).toBe("s1");
    expect(error.cause).toBe(cause);
    expect(new ThreadlineError(ErrorCode.FORBIDDEN, "no").retryable).toBe(false);
  });

  it("an explicit retryable overrides the table", () => {
    expect(new ThreadlineError(ErrorCode.FORBIDDEN, "x", { retryable: true }).retryable).toBe(true);
    expect(new ThreadlineError(ErrorCode.INTERNAL, "x", { retryable: false }).retryable).toBe(false);
  });

  it.each<[string, ThreadlineError, number | undefined, WireError]>([
    [
      "with rid and session",
      new ThreadlineError(ErrorCode.FORBIDDEN, "no access", { session: "s1" }),
      7,
      { code: "FORBIDDEN", message: "no access", retryable: false, rid: 7, session: "s1" },
    ],
    [
      "without rid or session",
      new ThreadlineError(ErrorCode.RATE_LIMITED, "slow down"),
      undefined,
      { code: "RATE_LIMITED", message: "slow down", retryable: true },
    ],
    [
      "rid 0 is kept",
      new ThreadlineError(ErrorCode.BAD_FRAME, "bad"),
      0,
      { code: "BAD_FRAME", message: "bad", retryable: false, rid: 0 },
    ],
  ])("toWire %s", (_name, error, rid, wire) => {
    const out = error.toWire(rid);
    expect(out).toEqual(wire);
    expect(Object.keys(out)).toEqual(Object.keys(wire)); // no undefined-valued keys on the wire
  });

  it("fromWire(toWire()) keeps code, message, retryable and session for every code", () => {
    for (const code of Object.values(ErrorCode)) {
      for (const session of [undefined, "s1"]) {
        const original = new ThreadlineError(code, `m-${code}`, session === undefined ? {} : { session });
        const back = ThreadlineError.fromWire(original.toWire(3));
        expect(back).toBeInstanceOf(ThreadlineError);
        expect([back.code, back.message, back.retryable, back.session]).toEqual([
          code,
          `m-${code}`,
          original.retryable,
          session,
        ]);
      }
    }
  });

  it("fromWire trusts the wire's retryable flag", () => {
    expect(ThreadlineError.fromWire({ code: "FORBIDDEN", message: "x", retryable: true }).retryable).toBe(true);
    expect(ThreadlineError.fromWire({ code: "UNAVAILABLE", message: "x", retryable: false }).retryable).toBe(false);
  });

  it.each([
    ["an unknown code", "NEW_FANCY_CODE"],
    ["an Object.prototype key", "constructor"],
    ["an empty code", ""],
  ])("fromWire maps %s to INTERNAL and keeps the original code in the message", (_name, code) => {
    const error = ThreadlineError.fromWire({ code, message: "details", retryable: false, session: "s2" });
    expect(error.code).toBe("INTERNAL");
    expect(error.message).toBe(`${code}: details`);
    expect(error.retryable).toBe(false);
    expect(error.session).toBe("s2");
  });
});
