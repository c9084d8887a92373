import { describe, expect, it } from "vitest";
import { CloseCode, isRetryableClose } from "./close-codes.ts";

describe("isRetryableClose", () => {
  it.each([
    [4000, true],
    [4001, true],
    [4250, true],
    [4499, true],
    [4500, false],
    [4501, false],
    [4750, false],
    [4999, false],
  ])("application range boundary %i → %s", (code, retry) => {
    expect(isRetryableClose(code)).toBe(retry);
  });

  it.each([
    [1000, false], // normal
    [1001, true], // going away
    [1002, false], // protocol error
    [1003, false], // unsupported data
    [1005, true], // no status received
    [1006, true], // abnormal (network loss)
    [1007, false], // invalid payload data
    [1008, false], // policy violation
    [1009, false], // message too big
    [1010, false], // mandatory extension
    [1011, true], // internal error
    [1012, true], // service restart
    [1013, true], // try again later
    [1014, true], // bad gateway
    [1015, true], // TLS handshake failure (network condition)
  ])("standard code %i → %s", (code, retry) => {
    expect(isRetryableClose(code)).toBe(retry);
  });

  it("every CloseCode entry has the behaviour its table documents", () => {
    const terminal = new Set<number>([
      CloseCode.NORMAL,
      CloseCode.MESSAGE_TOO_BIG,
      CloseCode.AUTH_FAILED,
      CloseCode.TOKEN_EXPIRED,
      CloseCode.AUTH_TIMEOUT,
      CloseCode.PROTOCOL_ERROR,
      CloseCode.FORBIDDEN_ORIGIN,
    ]);
    for (const [name, code] of Object.entries(CloseCode)) {
      expect([name, isRetryableClose(code)]).toEqual([name, !terminal.has(code)]);
    }
  });

  it("the application codes sit in their documented ranges", () => {
    const inRange = (lo: number, hi: number, codes: number[]) => codes.every((c) => c >= lo && c <= hi);
    expect(
      inRange(4000, 4499, [
        CloseCode.RECONNECT,
        CloseCode.SLOW_CONSUMER,
        CloseCode.UNAVAILABLE,
        CloseCode.FLOOD,
        CloseCode.IDLE_TIMEOUT,
        CloseCode.TOO_MANY_CONNECTIONS,
      ]),
    ).toBe(true);
    expect(
      inRange(4500, 4999, [
        CloseCode.AUTH_FAILED,
        CloseCode.TOKEN_EXPIRED,
        CloseCode.AUTH_TIMEOUT,
        CloseCode.PROTOCOL_ERROR,
        CloseCode.FORBIDDEN_ORIGIN,
      ]),
    ).toBe(true);
    expect(new Set(Object.values(CloseCode)).size).toBe(Object.keys(CloseCode).length);
  });
});
