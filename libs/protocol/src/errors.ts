/**
 * Typed errors shared by every Threadline package. The `code` is a stable
 * string that crosses the wire in `error` frames; `retryable` tells a client
 * whether repeating the same request later can succeed.
 */
export const ErrorCode = {
  /** The frame is not valid msgpack/JSON, or not an object. */
  BAD_FRAME: "BAD_FRAME",
  /** The frame's `op` is not one this protocol version knows. */
  UNKNOWN_OP: "UNKNOWN_OP",
  /** The frame has the right `op` but a field is missing or of the wrong type. */
  INVALID_FRAME: "INVALID_FRAME",
  /** The frame is larger than `limits.maxFrameBytes`. */
  FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
  /** An event's encoded `data` is larger than `limits.maxEventBytes`. */
  EVENT_TOO_LARGE: "EVENT_TOO_LARGE",
  /** An operation other than `hello` arrived before authentication. */
  UNAUTHENTICATED: "UNAUTHENTICATED",
  /** The token is missing, malformed or its signature/claims are invalid. */
  AUTH_FAILED: "AUTH_FAILED",
  /** The token's `exp` has passed. */
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  /** The token does not grant this operation on this session. */
  FORBIDDEN: "FORBIDDEN",
  /** The session id does not match the session id grammar. */
  INVALID_SESSION: "INVALID_SESSION",
  /** The position is malformed or lies in the future of the stream. */
  INVALID_POSITION: "INVALID_POSITION",
  /** The requested history can no longer be replayed exactly (epoch changed or events expired). */
  INSUFFICIENT_STATE: "INSUFFICIENT_STATE",
  /** The operation names a session this socket is not attached to. */
  NOT_ATTACHED: "NOT_ATTACHED",
  /** Another `attach` to the same session is still being answered on this socket; retry after its reply. */
  ATTACH_IN_PROGRESS: "ATTACH_IN_PROGRESS",
  /** A state operation's `ifVersion` does not match the object's version (PROTOCOL.md §19.3). */
  STATE_CONFLICT: "STATE_CONFLICT",
  /** A state object would exceed its size, the session its object count, or a list its length (§19.3). */
  STATE_TOO_LARGE: "STATE_TOO_LARGE",
  /** A state operation's path does not lead where the operation needs (§19.3). */
  STATE_PATH: "STATE_PATH",
  /** Client-side: `attach()` of a session the client already holds a live handle for (use that handle, or detach first). */
  ALREADY_ATTACHED: "ALREADY_ATTACHED",
  /** The socket already holds `limits.maxSessionsPerSocket` attachments. */
  TOO_MANY_SESSIONS: "TOO_MANY_SESSIONS",
  /** The socket exceeded `limits.framesPerSecond` (burst `limits.frameBurst`). */
  RATE_LIMITED: "RATE_LIMITED",
  /** The user already has the gateway's `maxSocketsPerUser` sockets open on this gateway. */
  TOO_MANY_CONNECTIONS: "TOO_MANY_CONNECTIONS",
  /** The socket has `limits.maxPendingPublishes` publishes awaiting a stream ack. */
  TOO_MANY_PENDING: "TOO_MANY_PENDING",
  /** The event type is not one clients may publish. */
  EVENT_TYPE_NOT_ALLOWED: "EVENT_TYPE_NOT_ALLOWED",
  /** A `cancel`/`steer` names a turn the session does not have (PROTOCOL.md §17). */
  TURN_NOT_FOUND: "TURN_NOT_FOUND",
  /** A `cancel`/`steer` names a turn that has already ended. */
  TURN_ENDED: "TURN_ENDED",
  /** A `tool.result`/`approval` names a call the session does not have. */
  CALL_NOT_FOUND: "CALL_NOT_FOUND",
  /** Another answer to the call was accepted first (from any device or gateway). */
  CALL_ALREADY_ANSWERED: "CALL_ALREADY_ANSWERED",
  /** The call was closed (timed out or its turn was cancelled) before this answer. */
  CALL_CLOSED: "CALL_CLOSED",
  /**
   * The event id is already taken, within the stream's duplicate window, by an
   * event this publish did not write (another author in the session, or a
   * foreign message under the session's dedupe key, PROTOCOL.md §9). Nothing
   * was stored; publish the event again with a new id.
   */
  EVENT_ID_CONFLICT: "EVENT_ID_CONFLICT",
  /**
   * Client SDK: the operation needs the WebSocket and the client is on the HTTP
   * transport (PROTOCOL.md §21.10), e.g. an attach `from: "cursor"` (device
   * cursors are kept by the WebSocket path only). Not retryable: attach from
   * a position, `"start"` or `"now"` instead.
   */
  TRANSPORT_UNSUPPORTED: "TRANSPORT_UNSUPPORTED",
  /** Agent SDK: a message writer was used after its message ended (PROTOCOL.md §18). */
  MESSAGE_ENDED: "MESSAGE_ENDED",
  /** HTTP API (PROTOCOL.md §20): Web Push is not configured on this gateway (no VAPID public key). */
  PUSH_DISABLED: "PUSH_DISABLED",
  /** HTTP API (§20): the push subscription does not validate (endpoint, keys, device). */
  INVALID_SUBSCRIPTION: "INVALID_SUBSCRIPTION",
  /** HTTP API (§20): the push endpoint's host is not an allowed push service (`THREADLINE_PUSH_ALLOWED_HOSTS`). */
  PUSH_HOST_NOT_ALLOWED: "PUSH_HOST_NOT_ALLOWED",
  /** HTTP API (§20): the request body is larger than the route accepts (8 KiB). */
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  /** HTTP API (§20): the notification preferences changed since the `revision` the write was based on. */
  PREFERENCES_CONFLICT: "PREFERENCES_CONFLICT",
  /** HTTP API (§20): the notification preferences do not validate. */
  INVALID_PREFERENCES: "INVALID_PREFERENCES",
  /** NATS did not store the event (timeout, no responders). Safe to retry with the same event id. */
  PUBLISH_FAILED: "PUBLISH_FAILED",
  /** A dependency (NATS) is unavailable right now. */
  UNAVAILABLE: "UNAVAILABLE",
  /** The socket could not keep up; it is being closed and should resume. */
  SLOW_CONSUMER: "SLOW_CONSUMER",
  /** The request timed out. */
  TIMEOUT: "TIMEOUT",
  /** The connection or client was closed. */
  CLOSED: "CLOSED",
  /** An unexpected server-side failure. */
  INTERNAL: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes for which repeating the request later (same event id for publishes) can succeed. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.ATTACH_IN_PROGRESS,
  ErrorCode.RATE_LIMITED,
  ErrorCode.TOO_MANY_CONNECTIONS,
  ErrorCode.TOO_MANY_PENDING,
  ErrorCode.PUBLISH_FAILED,
  ErrorCode.UNAVAILABLE,
  ErrorCode.SLOW_CONSUMER,
  ErrorCode.TIMEOUT,
  ErrorCode.CLOSED,
  ErrorCode.INTERNAL,
]);

export function isRetryableCode(code: string): boolean {
  return RETRYABLE.has(code as ErrorCode);
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ErrorCode, code);
}

/** The wire shape of an error (the body of an `error` frame, minus `op`). */
export interface WireError {
  code: string;
  message: string;
  retryable: boolean;
  rid?: number;
  session?: string;
}

/**
 * Base class of every error Threadline throws.
 * @example
 *   try { await session.publish(...) } catch (e) {
 *     if (e instanceof ThreadlineError && e.retryable) retryLater();
 *   }
 */
export class ThreadlineError extends Error {
  override readonly name: string = "ThreadlineError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly session: string | undefined;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions & { session?: string; retryable?: boolean }) {
    super(message, options);
    this.code = code;
    this.retryable = options?.retryable ?? isRetryableCode(code);
    this.session = options?.session;
  }

  /** Rebuilds an error received in an `error` frame. Unknown codes become `INTERNAL`. */
  static fromWire(wire: WireError): ThreadlineError {
    const code = isErrorCode(wire.code) ? wire.code : ErrorCode.INTERNAL;
    const message = code === wire.code ? wire.message : `${wire.code}: ${wire.message}`;
    return new ThreadlineError(code, message, {
      retryable: wire.retryable,
      ...(wire.session === undefined ? {} : { session: wire.session }),
    });
  }

  toWire(rid?: number): WireError {
    const wire: WireError = { code: this.code, message: this.message, retryable: this.retryable };
    if (rid !== undefined) wire.rid = rid;
    if (this.session !== undefined) wire.session = this.session;
    return wire;
  }
}
