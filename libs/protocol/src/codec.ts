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

/** For an extension header byte, the offset of its type byte (fixext 1–16: 1, ext 8: 2, ext 16: 3, ext 32: 5). */
function extensionTypeOffset(b: number): number | undefined {
  if (b >= 0xd4 && b <= 0xd8) return 1;
  if (b === 0xc7) return 2;
  if (b === 0xc8) return 3;
  if (b === 0xc9) return 5;
  return undefined;
}

/**
 * The type of the first msgpack extension value in `bytes` (fixext, ext 8/16/32,
 * including the timestamp type -1), or undefined when there is none. Frames
 * MUST NOT use extensions (PROTOCOL.md §5.2), but msgpackr decodes some of them
 * (timestamps into Dates, its own types into Sets, RegExps…) instead of
 * failing, and would store them re-encoded; the gateway refuses such frames.
 * Walks the encoding without building values; stops at the first extension
 * or at malformed/truncated input (decoding reports that).
 */
export function msgpackExtensionType(bytes: Uint8Array): number | undefined {
  // Fast path: no byte that could start an extension header anywhere.
  let candidate = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) {
      candidate = true;
      break;
    }
  }
  if (!candidate) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const int8 = (at: number) => (at < bytes.length ? view.getInt8(at) : undefined);
  const len = (at: number, size: 1 | 2 | 4) => {
    if (at + size > bytes.length) return Number.POSITIVE_INFINITY;
    return size === 1 ? view.getUint8(at) : size === 2 ? view.getUint16(at) : view.getUint32(at);
  };
  let pos = 0;
  let pending = 1; // values still to read: one top-level value, plus children as containers open
  while (pending > 0 && pos < bytes.length) {
    pending--;
    const b = bytes[pos] as number;
    const ext = extensionTypeOffset(b);
    if (ext !== undefined) return int8(pos + ext);
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) pos += 1;
    else if (b <= 0x8f) {
      pending += 2 * (b & 0x0f);
      pos += 1;
    } else if (b <= 0x9f) {
      pending += b & 0x0f;
      pos += 1;
    } else if (b <= 0xbf) pos += 1 + (b & 0x1f);
    else if (b === 0xc4 || b === 0xd9) pos += 2 + len(pos + 1, 1);
    else if (b === 0xc5 || b === 0xda) pos += 3 + len(pos + 1, 2);
    else if (b === 0xc6 || b === 0xdb) pos += 5 + len(pos + 1, 4);
    else if (b === 0xcc || b === 0xd0) pos += 2;
    else if (b === 0xcd || b === 0xd1) pos += 3;
    else if (b === 0xca || b === 0xce || b === 0xd2) pos += 5;
    else if (b === 0xcb || b === 0xcf || b === 0xd3) pos += 9;
    else if (b === 0xdc || b === 0xde) {
      pending += (b === 0xde ? 2 : 1) * len(pos + 1, 2);
      pos += 3;
    } else if (b === 0xdd || b === 0xdf) {
      pending += (b === 0xdf ? 2 : 1) * len(pos + 1, 4);
      pos += 5;
    } else return undefined; // 0xc1 (never used): malformed, decoding reports it
  }
  return undefined;
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
