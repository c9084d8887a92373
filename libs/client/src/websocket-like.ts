import { decodeJson, decodeMsgpack, type Encoding, encodeFrame, type ServerFrame } from "@threadline/protocol";

/**
 * An event handler property typed with method (bivariant) parameters, so both
 * the DOM `WebSocket` (`(ev: MessageEvent) => any`) and the `ws` package's
 * (`(event: WebSocket.MessageEvent) => void`) are assignable.
 */
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/**
 * The subset of the WHATWG WebSocket the client uses. A browser `WebSocket`
 * and the `ws` package's `WebSocket` both satisfy it.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers (and Node ≥ 22), `WebSocket` from `ws` in Node 20. */
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `WebSocket.OPEN`. */
export const OPEN = 1;

/** Encodes a client frame: msgpack in a binary message, or JSON in a text message. */
export function encodeClientFrame(frame: object, encoding: Encoding): string | Uint8Array {
  return encodeFrame(frame, encoding);
}

/**
 * Decodes a message from the gateway: text → JSON, binary (ArrayBuffer or a
 * typed-array view) → msgpack. Undefined for anything that is not an object
 * with a string `op` (a malformed frame is ignored, like an unknown op, §5.2).
 */
export function decodeServerFrame(data: unknown): ServerFrame | undefined {
  let value: unknown;
  try {
    if (typeof data === "string") value = decodeJson(data);
    else if (data instanceof ArrayBuffer) value = decodeMsgpack(new Uint8Array(data));
    else if (ArrayBuffer.isView(data))
      value = decodeMsgpack(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else return undefined;
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof (value as { op?: unknown }).op !== "string") {
    return undefined;
  }
  return value as ServerFrame;
}
