import { describe, expect, it } from "vitest";
import { isTraceparent, MAX_TRACEPARENT_LENGTH, traceIdOf } from "./trace.ts";

const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("isTraceparent", () => {
  it.each([
    VALID,
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    // A later version may append fields.
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  ])("accepts %s", (value) => {
    expect(isTraceparent(value)).toBe(true);
  });

  it.each([
    ["not a string", 42],
    ["empty", ""],
    ["uppercase hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"],
    ["version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["short trace id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"],
    ["version 00 with extra fields", `${VALID}-x`],
    ["missing flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"],
    ["too long", `01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-${"a".repeat(MAX_TRACEPARENT_LENGTH)}`],
    ["spaces", ` ${VALID}`],
  ])("refuses %s", (_why, value) => {
    expect(isTraceparent(value)).toBe(false);
  });

  it("extracts the trace id", () => {
    expect(traceIdOf(VALID)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(traceIdOf("nope")).toBeUndefined();
  });
});
