import { describe, expect, it } from "vitest";
import {
  decodeJson,
  decodeMsgpack,
  encodedSize,
  encodeFrame,
  encodeJson,
  encodeMsgpack,
  msgpackExtensionType,
  utf8,
} from "./codec.ts";

const values: [string, unknown][] = [
  ["a frame", { op: "publish", rid: 1, session: "s1", event: { type: "input", data: { text: "hi" } } }],
  ["an event frame", { op: "event", session: "s", seq: 9007199254740991, event: { id: "e1", type: "x", ts: 1 } }],
  ["nested arrays and objects", { a: [1, [2, [3, { b: null }]]], c: { d: { e: "f" } } }],
  ["unicode text", { text: "héllo wörld — 你好 🙂" }],
  ["empty containers", { a: [], o: {}, s: "" }],
  ["numbers", { zero: 0, neg: -1, big: 2 ** 40, float: 1.5, negFloat: -0.25 }],
  ["booleans and null", { t: true, f: false, n: null }],
  ["a long string", { s: "x".repeat(70_000) }],
  ["a top-level array", [1, "two", { three: 3 }]],
  ["a top-level string", "just text"],
];

describe("msgpack", () => {
  it.each(values)("round-trips %s", (_name, value) => {
    expect(decodeMsgpack(encodeMsgpack(value))).toEqual(value);
  });

  it("decodes maps as plain objects", () => {
    const decoded = decodeMsgpack(encodeMsgpack({ a: 1 }));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });

  it("omits undefined properties instead of encoding nil", () => {
    expect(decodeMsgpack(encodeMsgpack({ a: undefined, b: 1 }))).toEqual({ b: 1 });
  });

  it("encodes plain msgpack any implementation reads (no records or extensions)", () => {
    // {"a":1} as a fixmap with a fixstr key and a positive fixint.
    expect([...encodeMsgpack({ a: 1 })]).toEqual([0x81, 0xa1, 0x61, 0x01]);
    expect([...encodeMsgpack([true, null])]).toEqual([0x92, 0xc3, 0xc0]);
  });

  it("decodes msgpack written by another implementation (str8 key, uint16, float64)", () => {
    const bytes = Uint8Array.of(
      0x82,
      0xd9,
      0x01,
      0x6b,
      0xcd,
      0x01,
      0x00,
      0xa1,
      0x66,
      0xcb,
      0x3f,
      0xf8,
      0,
      0,
      0,
      0,
      0,
      0,
    );
    expect(decodeMsgpack(bytes)).toEqual({ k: 256, f: 1.5 });
  });

  it("a __proto__ key never changes the decoded object's prototype", () => {
    const bytes = encodeMsgpack(JSON.parse('{"__proto__":{"polluted":true},"ok":1}'));
    const decoded = decodeMsgpack(bytes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ["empty input", []],
    ["truncated array", [0x92, 0x01]],
    ["truncated string", [0xa5, 0x61, 0x62]],
    ["truncated map", [0x81, 0xa1, 0x61]],
    ["truncated uint32", [0xce, 0x00, 0x01]],
    ["trailing bytes after a value", [0x01, 0x02]],
    ["an unknown extension type", [0xd4, 0x05, 0x01]],
    ["a map with a non-string key", [0x81, 0x81, 0xa1, 0x61, 0x01, 0x01]],
    // Regression: msgpackr decoded 0xc1 to a sentinel object and re-encoded it verbatim into stored events.
    ["the never-used byte 0xc1", [0xc1]],
    ["0xc1 nested in a value", [0x81, 0xa1, 0x61, 0x91, 0xc1]],
    ["0xc1 deep in a frame", [0x81, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x81, 0xa1, 0x78, 0x92, 0x01, 0xc1]],
  ])("throws on malformed input: %s", (_name, bytes) => {
    expect(() => decodeMsgpack(Uint8Array.from(bytes))).toThrow();
  });

  it("encodedSize is the msgpack byte length (0 for undefined)", () => {
    expect(encodedSize(undefined)).toBe(0);
    expect(encodedSize({ a: 1 })).toBe(4);
    expect(encodedSize("x".repeat(300))).toBe(encodeMsgpack("x".repeat(300)).byteLength);
  });
});

describe("msgpackExtensionType", () => {
  // {"a": <value>} around each extension header form.
  const inMap = (...value: number[]) => Uint8Array.of(0x81, 0xa1, 0x61, ...value);
  it.each([
    ["fixext 1", inMap(0xd4, 0x05, 0x01), 5],
    ["fixext 4 timestamp", inMap(0xd6, 0xff, 0, 0, 0, 1), -1],
    ["fixext 16", inMap(0xd8, 0x07, ...new Array(16).fill(0)), 7],
    ["ext 8", inMap(0xc7, 0x02, 0x73, 0x90, 0x90), 0x73],
    ["ext 16", inMap(0xc8, 0x00, 0x01, 0x10, 0x00), 0x10],
    ["ext 32", inMap(0xc9, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00), -16],
  ])("finds %s", (_name, bytes, type) => {
    expect(msgpackExtensionType(bytes)).toBe(type);
  });

  it("finds an extension nested in arrays and maps after other values", () => {
    const before = encodeMsgpack({ op: "publish", rid: 7, n: [1, -1, 300, 70_000, 2 ** 40, 1.5, "s", true, null] });
    // Replace the last value (null, 0xc0) with a timestamp extension.
    const bytes = Uint8Array.from([...before.subarray(0, before.length - 1), 0xd6, 0xff, 0, 0, 0, 1]);
    expect(msgpackExtensionType(bytes)).toBe(-1);
  });

  it("does not mistake extension-like bytes inside strings, binaries and numbers for extensions", () => {
    const value = {
      s: "\u00d4\u00c7",
      b: Uint8Array.of(0xd4, 0xd6, 0xc7, 0xc9),
      n: 0xd4d5,
      f: -0.00123,
      big: 2 ** 53 - 1,
    };
    const bytes = encodeMsgpack(value);
    expect([...bytes].some((b) => b === 0xd4 || b === 0xc7)).toBe(true);
    expect(msgpackExtensionType(bytes)).toBeUndefined();
    for (const [, v] of values) expect(msgpackExtensionType(encodeMsgpack(v))).toBeUndefined();
  });

  it("stops at truncated input instead of reading past it", () => {
    expect(msgpackExtensionType(Uint8Array.of(0x92, 0xd9, 0xff, 0x61))).toBeUndefined();
    expect(msgpackExtensionType(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff))).toBeUndefined();
  });
});

describe("json", () => {
  it.each(values)("round-trips %s, from a string and from UTF-8 bytes", (_name, value) => {
    const text = encodeJson(value);
    expect(typeof text).toBe("string");
    expect(decodeJson(text)).toEqual(value);
    expect(decodeJson(utf8(text))).toEqual(value);
  });

  it.each([
    ["empty", ""],
    ["truncated object", '{"op":"ping"'],
    ["single quotes", "{'op':'ping'}"],
    ["trailing comma", '{"op":"ping",}'],
    ["bare word", "ping"],
    ["two values", "{} {}"],
  ])("throws on malformed text: %s", (_name, text) => {
    expect(() => decodeJson(text)).toThrow(SyntaxError);
  });

  it("throws on invalid UTF-8 bytes instead of decoding replacement characters", () => {
    expect(() => decodeJson(Uint8Array.of(0x22, 0xff, 0x22))).toThrow(TypeError);
    expect(() => decodeJson(Uint8Array.of(0x22, 0xc3, 0x22))).toThrow(TypeError); // truncated 2-byte sequence
  });
});

describe("encodeFrame", () => {
  it("uses msgpack bytes for msgpack and a string for json", () => {
    const frame = { op: "pong", rid: 3, ts: 1700000000000 };
    const binary = encodeFrame(frame, "msgpack");
    const text = encodeFrame(frame, "json");
    expect(binary).toBeInstanceOf(Uint8Array);
    expect(decodeMsgpack(binary as Uint8Array)).toEqual(frame);
    expect(typeof text).toBe("string");
    expect(decodeJson(text as string)).toEqual(frame);
  });
});
