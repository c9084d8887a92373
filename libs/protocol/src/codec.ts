import { C1, Packr, Unpackr } from "msgpackr";

/**
 * Frames are msgpack maps in binary WebSocket messages, or JSON objects in
 * text messages (for debugging). Both decode to plain objects; msgpack
 * extensions (records, structured clone) are disabled so any msgpack
 * implementation interoperates.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export type Encoding = "msgpack" | "json";

export function encodeMsgpack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Throws on malformed input. */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  const value = unpackr.unpack(bytes);
  // msgpackr decodes the never-used byte 0xc1 to a sentinel object instead of
  // failing, and would re-encode it verbatim into stored events that strict
  // decoders reject. The byte scan keeps the common case free of a tree walk.
  if (bytes.indexOf(0xc1) !== -1) rejectNeverUsed(value);
  return value;
}

function rejectNeverUsed(root: unknown): void {
  const stack = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === C1) throw new TypeError("invalid msgpack: the never-used byte 0xc1");
    if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) continue;
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push(child);
  }
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

export function encodeJson(value: unknown): string {
  return JSON.stringify(value);
}

/** Throws on malformed input (including invalid UTF-8). */
export function decodeJson(data: string | Uint8Array): unknown {
  return JSON.parse(typeof data === "string" ? data : utf8Decoder.decode(data));
}

export function encodeFrame(value: unknown, encoding: Encoding): Uint8Array | string {
  return encoding === "msgpack" ? encodeMsgpack(value) : encodeJson(value);
}

/** Byte length of a value once msgpack-encoded (used for `maxEventBytes`). */
export function encodedSize(value: unknown): number {
  return value === undefined ? 0 : encodeMsgpack(value).byteLength;
}

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}
