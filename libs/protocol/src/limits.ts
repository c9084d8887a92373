/**
 * Limits the gateway enforces per socket, announced to the client in the
 * `welcome` frame. Every limit has a typed error (or close code) and a
 * documented behaviour at the limit; see PROTOCOL.md §Limits.
 */
export interface Limits {
  /** Frames above this size get `FRAME_TOO_LARGE`; the socket stays open. */
  maxFrameBytes: number;
  /** Frames above this size close the socket with 1009 (enforced by the WebSocket layer). */
  maxPayloadBytes: number;
  /** Encoded size of a published event's `data`. Above: `EVENT_TOO_LARGE`. */
  maxEventBytes: number;
  /** Sessions one socket may be attached to at once. Above: `TOO_MANY_SESSIONS`. */
  maxSessionsPerSocket: number;
  /** Sustained frames per second per socket (token bucket rate). Above: `RATE_LIMITED`. */
  framesPerSecond: number;
  /** Token bucket size (burst). */
  frameBurst: number;
  /** `RATE_LIMITED` answers within one rate window before the socket is closed with 4003. */
  maxRateLimitedFrames: number;
  /** Publishes awaiting a stream ack per socket. Above: `TOO_MANY_PENDING`. */
  maxPendingPublishes: number;
  /** `state` operations a socket may publish per second (PROTOCOL.md §19.4); above: `RATE_LIMITED`. */
  maxStateOpsPerSecond: number;
  /** Invalid frames tolerated per socket before closing with 4503. */
  maxProtocolErrors: number;
  /** Time allowed between the upgrade and a successful `hello`. Above: close 4502. */
  authTimeoutMs: number;
  /** Seconds without any frame (including WebSocket pings) before the gateway closes the socket. */
  idleTimeoutSeconds: number;
  /** Bytes queued to a socket before it stops receiving live events and catches up from the stream instead. */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 64 * 1024,
  maxPayloadBytes: 1024 * 1024,
  maxEventBytes: 32 * 1024,
  maxSessionsPerSocket: 100,
  framesPerSecond: 100,
  frameBurst: 200,
  maxRateLimitedFrames: 100,
  maxPendingPublishes: 64,
  maxStateOpsPerSecond: 50,
  maxProtocolErrors: 20,
  authTimeoutMs: 10_000,
  // Also the bound on detecting a silently dead browser (presence leave): the gateway pings idle sockets itself.
  idleTimeoutSeconds: 10,
  maxBufferedBytes: 1024 * 1024,
});

/**
 * Largest client token (JWT compact serialization) the gateway verifies, in
 * bytes, wherever it arrives (`hello`, the upgrade's `Authorization` header,
 * the HTTP routes). A larger token is refused with `AUTH_FAILED` like any
 * other bad token (PROTOCOL.md §6.1). A `hello` carrying one fits in the
 * default `maxFrameBytes` with room to spare.
 */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** Events in one `events` frame at most (PROTOCOL.md §7.3). */
export const MAX_EVENTS_PER_FRAME = 1024;
/**
 * Encoded bytes of one `events` frame at most (PROTOCOL.md §7.3), unless its
 * single event alone is larger (an event is never split).
 */
export const MAX_EVENTS_FRAME_BYTES = 256 * 1024;
/** Names in `hello.accept` at most; a longer list is `INVALID_FRAME`. */
export const MAX_ACCEPT_NAMES = 16;
/** Characters per name in `hello.accept` at most; a longer name is `INVALID_FRAME`. */
export const MAX_ACCEPT_NAME_CHARS = 32;
