import type {
  AckFrame,
  AttachFrom,
  AttachHistory,
  BackoffPolicy,
  ClientEvent,
  ControlOwnerEntry,
  Position,
  PresenceMember,
  ServerFrame,
  SessionRecord,
  StateObject,
  ThreadlineError,
} from "@threadline/protocol";
import type { SessionMessagesView } from "./message-view.ts";
import type { PositionStorage } from "./position-storage.ts";
import type { SessionPresenceView } from "./presence-view.ts";
import type { PublishResult } from "./publish-queue.ts";
import type { SessionControls } from "./session-controls.ts";
import type { StateHandle } from "./state-handle.ts";
import type { StateChange } from "./state-view.ts";

/**
 * One attached session. Obtained from `client.attach()`; lives until
 * `detach()`, `client.close()`, or a terminal error (see `onError`).
 *
 * Exactly-once delivery (PROTOCOL.md §14): the handle applies an event only
 * if its seq is above the last applied one, and re-attaches after every
 * reconnect from that exact position, so listeners see every event of the
 * session once, in order, across socket losses.
 */
export interface SessionHandle extends AsyncDisposable, SessionControls {
  readonly id: string;
  /** The last applied event's `{epoch, seq}`; undefined until an event was applied. */
  readonly position: Position | undefined;
  /** Replay reached live at least once on the current attachment (reset while disconnected). */
  readonly synced: boolean;
  /**
   * Events applied from now on (first the replay backlog, see `onEvent`), in
   * order, without duplicates, across reconnects.
   * Ends when the handle detaches or the client closes; throws the terminal
   * error when the attachment fails (e.g. `INSUFFICIENT_STATE`). A consumer
   * more than `highWaterMark` (default 10000) events behind gets the buffered
   * events, then a `SLOW_CONSUMER` ThreadlineError; the handle itself keeps
   * going — re-read what was missed by attaching another client from a position.
   */
  events(opts?: { highWaterMark?: number }): AsyncIterable<SessionRecord>;
  /**
   * Calls `cb` for every applied event. Returns an unsubscribe function.
   * Until something was delivered to a consumer, the handle keeps what it
   * applied (up to 10000 events), and a consumer (`onEvent`, `onSynced`,
   * `events()`) subscribing before the next frame gets it first — so one
   * registered right after `await client.attach()` sees the whole replay.
   * `cb` is never called from inside `onEvent()` itself.
   */
  onEvent(cb: (record: SessionRecord) => void): () => void;
  /** Calls `cb` each time replay reaches live on an attachment (after every re-attach too). */
  onSynced(cb: (seq: number) => void): () => void;
  /**
   * Calls `cb` with session-level errors. When `error.retryable` is false the
   * attachment has ended for good (e.g. `INSUFFICIENT_STATE`: the position is
   * no longer resumable, the stored position was deleted; `FORBIDDEN`) and the
   * handle is detached — the app decides what next, e.g.
   * `client.attach(id, { from: "start" })`. Retryable errors (a gateway-ended
   * attachment with `retryable: true`) are informational: the handle
   * re-attaches from its position by itself.
   */
  onError(cb: (error: ThreadlineError) => void): () => void;
  /** Resolves once `synced` is true; rejects if the handle ends first. */
  whenSynced(): Promise<void>;
  /**
   * Publishes a client event (types: `CLIENT_EVENT_LANES`). The event gets an
   * `id` (`newId()`) before the first send unless it has one; every resend
   * uses it, so it is stored once. Queued while disconnected. Rejects with
   * `TOO_MANY_PENDING` beyond `limits.maxPendingPublishes` pending publishes,
   * with the gateway's error for terminal failures, with `CLOSED` when the
   * client closes first. The caller's object is not modified.
   * @example const { id, seq } = await session.publish({ type: "input", data: { text: "hi" } });
   */
  publish(event: ClientEvent): Promise<PublishResult>;
  /**
   * Advances this device's server-side cursor to `seq` (default: the current
   * position). Throws `INVALID_POSITION` for a seq above the last applied one.
   * Acks are coalesced: at most 4 frames per second per session, plus one on
   * detach and one after each re-attach. A no-op once detached.
   */
  ack(seq?: number): void;
  /** Ends the attachment: flushes the ack and stored position, tells the gateway, ends iterators. Idempotent. */
  detach(): Promise<void>;
  /**
   * Who is in the session now (`presence.members`) and membership changes
   * (`presence.onChange`), from the session's presence events and the
   * gateway's snapshot taken after the first sync (PROTOCOL.md §16).
   * @example session.presence.onChange(({ members }) => render(members));
   */
  readonly presence: SessionPresenceView;
  /**
   * The session's chat messages materialized from its `message.*` and
   * `input` events (ordered, snapshot + change notifications; cancelled and
   * interrupted messages stay visible with their status).
   * @example session.messages.onChange(({ messages }) => render(messages));
   */
  readonly messages: SessionMessagesView;
  /**
   * Shared state object `name` of the session (PROTOCOL.md §19): read it,
   * subscribe to its changes from any device or agent, and change it. The
   * same handle for the same name; it stays valid for the handle's life.
   * Throws `INVALID_FRAME` for a name not matching `[A-Za-z0-9_-]{1,64}`.
   * `attach()` resolves once the state is loaded, so `get()` is current at once.
   * @example
   *   const page = session.state("page");
   *   page.subscribe(({ value }) => console.log("now viewing", value));
   *   await page.set([], { product: "sku-42" });
   */
  state<T extends StateObject["value"] = StateObject["value"]>(name: string): StateHandle<T>;
  /** Every shared state object the handle holds now (frozen values). */
  states(): Readonly<Record<string, StateObject>>;
  /** Calls `cb` on every applied change of any state object. Returns an unsubscribe function. */
  onStateChange(cb: (change: StateChange) => void): () => void;
}

/** What a session handle needs from the client. */
export interface SessionHost {
  /** True while a welcomed socket can carry frames. */
  readonly ready: boolean;
  readonly storage: PositionStorage;
  /** Who this client is (`welcome` kind and user); undefined before the first welcome. */
  readonly participant: { kind: string; id: string } | undefined;
  /** Backoff for re-attaching after the gateway ended an attachment with a retryable error. */
  readonly reattachPolicy: BackoffPolicy;
  /** Sends a frame without a reply. False when no welcomed socket. */
  send(frame: AckFrame): boolean;
  /**
   * Sends a request with a fresh rid (undefined when it could not be sent). The
   * reply rejects with a ThreadlineError (`CLOSED` when the socket went away).
   */
  request(
    frame:
      | { op: "attach"; session: string; from?: AttachFrom; history?: AttachHistory; state?: boolean }
      | { op: "detach"; session: string }
      | { op: "presence"; session: string; status: string; metadata?: Record<string, unknown> },
  ): {
    rid: number | undefined;
    reply: Promise<ServerFrame>;
  };
  publish(session: string, event: ClientEvent): Promise<PublishResult>;
  /** The session's members from the gateway (`GET /v1/sessions/:id/presence`). */
  presenceSnapshot(session: string): Promise<PresenceMember[]>;
  /** The session's owner entry from the gateway (`GET /v1/sessions/:id/control`); null when the agents own it. */
  controlSnapshot(session: string): Promise<ControlOwnerEntry | null>;
  /** The socket is presumed dead (a request timed out): drop it and reconnect. */
  dropConnection(error: ThreadlineError): void;
  /** The handle has ended for good; forget it. */
  release(handle: { readonly id: string }): void;
}

export interface SessionHandleOptions {
  autoAck: boolean;
  history: AttachHistory;
}
