import { type Encoding, type ServerFrame, SUBPROTOCOL } from "@threadline/protocol";
import type { Transport } from "./transport-choice.ts";
import {
  decodeServerFrame,
  encodeClientFrame,
  OPEN,
  type WebSocketConstructorLike,
  type WebSocketLike,
} from "./websocket-like.ts";

/**
 * The optional gateway frames this client handles, sent as `hello.accept`
 * (PROTOCOL.md §7.3): `events` batches are expanded into one `event` each.
 */
export const HELLO_ACCEPT: string[] = ["events"];

/** Where a connection reports what happens to it. */
export interface ConnectionEvents {
  /** Frames can be sent: the client sends `hello`. */
  open(): void;
  /** A frame from the gateway (or, over HTTP, the frame a response stands for). */
  frame(frame: ServerFrame): void;
  /** The connection ended, with a WebSocket close code (HTTP maps its failures onto the same codes). */
  close(code: number, reason: string): void;
}

/**
 * One connection to a gateway that carries the protocol's frames (§7):
 * a WebSocket, or the HTTP transport that turns them into requests
 * (http-connection.ts). After `close()` or the `close` event, no event is
 * delivered any more.
 */
export interface FrameConnection {
  readonly transport: Transport;
  /** The connection can carry frames. */
  readonly isOpen: boolean;
  /** The transport opened (WebSocket: the upgrade succeeded; HTTP: the gateway answered a request). */
  readonly reached: boolean;
  /** Sends a client frame; false when it cannot be sent (closing). */
  send(frame: object): boolean;
  /** Routes later events to `events` (a WebSocket probe adopted as the client's connection). */
  bind(events: ConnectionEvents): void;
  /** Closes the connection; its events stop at once. */
  close(code: number, reason: string): void;
}

const noop = () => {};

/** Opens a WebSocket carrying msgpack or JSON frames; throws when the constructor throws (e.g. a bad URL). */
export function openWebSocket(
  WebSocket: WebSocketConstructorLike,
  url: string,
  encoding: Encoding,
  initial: ConnectionEvents,
): FrameConnection {
  const socket: WebSocketLike = new WebSocket(url, SUBPROTOCOL);
  let events: ConnectionEvents | undefined = initial;
  let reached = false;
  const detach = () => {
    events = undefined;
    socket.onopen = noop;
    socket.onmessage = noop;
    socket.onclose = noop;
    // Never null: the `ws` package throws on an `error` event without a listener.
    socket.onerror = noop;
  };
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    reached = true;
    events?.open();
  };
  socket.onmessage = (event) => {
    const frame = decodeServerFrame(event.data);
    if (frame) events?.frame(frame);
  };
  socket.onclose = (event) => {
    const target = events;
    detach();
    target?.close(event.code, event.reason);
  };
  // A close event always follows an error event; the close carries what matters.
  socket.onerror = noop;
  return {
    transport: "websocket",
    get isOpen() {
      return socket.readyState === OPEN;
    },
    get reached() {
      return reached;
    },
    send(frame) {
      if (socket.readyState !== OPEN) return false;
      try {
        socket.send(encodeClientFrame(frame, encoding));
        return true;
      } catch {
        return false;
      }
    },
    bind(next) {
      if (events) events = next;
    },
    close(code, reason) {
      detach();
      try {
        socket.close(code, reason);
      } catch {
        // Already closing.
      }
    },
  };
}
