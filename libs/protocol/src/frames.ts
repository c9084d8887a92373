import type { SessionEvent } from "./envelope.ts";
import type { Limits } from "./limits.ts";
import type { Position } from "./position.ts";
import type { StateObject } from "./state.ts";
import type { ParticipantKind } from "./subjects.ts";

/** Protocol version, negotiated as the WebSocket subprotocol `threadline.v1`. */
export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = "threadline.v1";

/**
 * Where an attachment starts:
 * - a Position: every event of the session after `seq` (resume);
 * - `"start"`: the whole history;
 * - `"now"`: only events stored after the attach;
 * - `"cursor"`: after this device's stored cursor, or `"start"` if it has none (the default).
 */
export type AttachFrom = Position | "start" | "now" | "cursor";

// ---- client → gateway -------------------------------------------------------

export interface HelloFrame {
  op: "hello";
  /** JWT. Optional when the token was given on the upgrade request. */
  token?: string;
  /** Stable id of this device/tab (cursor key). Default: a per-connection id. */
  device?: string;
  /**
   * Optional gateway → client frame kinds this client understands
   * (PROTOCOL.md §7.3), e.g. `["events"]`. At most `MAX_ACCEPT_NAMES` names of
   * at most `MAX_ACCEPT_NAME_CHARS` characters; unknown names are ignored.
   * Only the socket's first `hello` counts.
   */
  accept?: string[];
}
export interface AttachFrame {
  op: "attach";
  rid: number;
  session: string;
  from?: AttachFrom;
  /**
   * How the replayed range is delivered: `"full"` (default) sends every
   * stored event; `"compact"` sends a completed message as one
   * `message.snapshot` at the seq of its `message.end` instead of its deltas
   * (PROTOCOL.md §8.5).
   */
  history?: AttachHistory;
  /**
   * `true`: send a `state` frame (every shared state object as of `from`)
   * right after `attached` (PROTOCOL.md §19.5). Default false.
   */
  state?: boolean;
}
/** Replay mode of an attachment (PROTOCOL.md §8.5). */
export type AttachHistory = "compact" | "full";
export interface DetachFrame {
  op: "detach";
  rid: number;
  session: string;
}
/** The event fields a client supplies; the gateway adds `from` and `ts` (and `id` when absent). */
export interface ClientEvent {
  id?: string;
  type: string;
  turn?: string;
  ref?: string;
  data?: unknown;
}
export interface PublishFrame {
  op: "publish";
  rid: number;
  session: string;
  event: ClientEvent;
}
export interface AckFrame {
  op: "ack";
  session: string;
  seq: number;
}
export interface PingFrame {
  op: "ping";
  rid: number;
}
/**
 * Sets this socket's presence status (and metadata, ≤ 1 KiB JSON) in a session it is attached to
 * (PROTOCOL.md §16.2). Reply: `presence_set`. Errors: `NOT_ATTACHED`, `INVALID_FRAME`, `EVENT_TOO_LARGE`.
 */
export interface PresenceFrame {
  op: "presence";
  rid: number;
  session: string;
  status: string;
  metadata?: Record<string, unknown>;
}
export type ClientFrame = HelloFrame | AttachFrame | DetachFrame | PublishFrame | AckFrame | PingFrame | PresenceFrame;
export type ClientOp = ClientFrame["op"];
export const CLIENT_OPS: readonly ClientOp[] = ["hello", "attach", "detach", "publish", "ack", "ping", "presence"];

// ---- gateway → client -------------------------------------------------------

export interface WelcomeFrame {
  op: "welcome";
  version: number;
  user: string;
  kind: ParticipantKind;
  device: string;
  /** Unique id of this connection (diagnostics). */
  connection: string;
  limits: Limits;
  /** The optional frame kinds (from `hello.accept`) the gateway will send on this socket (PROTOCOL.md §7.3). */
  frames?: OptionalFrame[];
}
export interface AttachedFrame {
  op: "attached";
  rid: number;
  session: string;
  epoch: string;
  /** Events with seq > `from` follow, in order. */
  from: number;
}
export interface EventFrame {
  op: "event";
  session: string;
  seq: number;
  event: SessionEvent;
}
/**
 * Consecutive events of one catch-up in one frame (PROTOCOL.md §7.3): means
 * exactly what `event` frames for `seqs[i]`/`events[i]`, in order, would mean.
 * `seqs` is strictly increasing; both arrays have the same length (1 to
 * `MAX_EVENTS_PER_FRAME`). Sent only to sockets whose `hello` accepted `"events"`.
 */
export interface EventsFrame {
  op: "events";
  session: string;
  seqs: number[];
  events: SessionEvent[];
}
/** Optional gateway → client frame kinds, negotiated by `hello.accept` / `welcome.frames`. */
export type OptionalFrame = "events";
export const OPTIONAL_FRAMES: readonly OptionalFrame[] = ["events"];
/** Replay for `session` is complete up to `seq`; everything after is live. */
export interface SyncedFrame {
  op: "synced";
  session: string;
  seq: number;
}
export interface DetachedFrame {
  op: "detached";
  session: string;
  /** `rid` of the `detach` request, absent when the gateway ended the attachment itself. */
  rid?: number;
  code?: string;
  message?: string;
  retryable?: boolean;
}
export interface PublishedFrame {
  op: "published";
  rid: number;
  session: string;
  id: string;
  seq: number;
  epoch: string;
  /** True when an event with this id was already stored (a retry); `seq` is the original's. */
  duplicate: boolean;
}
export interface PongFrame {
  op: "pong";
  rid: number;
  /** Gateway wall clock, ms. */
  ts: number;
}
export interface ErrorFrame {
  op: "error";
  rid?: number;
  session?: string;
  code: string;
  message: string;
  retryable: boolean;
}
/** Reply to `presence`: the entry was written. */
export interface PresenceSetFrame {
  op: "presence_set";
  rid: number;
  session: string;
  status: string;
}
/** Every shared state object of a session as of `seq` (= the attachment's `from`), PROTOCOL.md §19.5. */
export interface StateFrame {
  op: "state";
  session: string;
  seq: number;
  objects: Record<string, StateObject>;
}

export type ServerFrame =
  | StateFrame
  | PresenceSetFrame
  | WelcomeFrame
  | AttachedFrame
  | EventFrame
  | EventsFrame
  | SyncedFrame
  | DetachedFrame
  | PublishedFrame
  | PongFrame
  | ErrorFrame;
