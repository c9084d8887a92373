import {
  type AckFrame,
  type AttachedFrame,
  type AttachFrom,
  type AttachHistory,
  type BackoffPolicy,
  backoffDelay,
  type ClientEvent,
  type ControlOwnerEntry,
  canRetry,
  type DetachedFrame,
  ErrorCode,
  type EventFrame,
  type HandoffAction,
  isEventId,
  isNewSeq,
  isSeq,
  type Position,
  type PresenceMember,
  type ServerFrame,
  type SessionRecord,
  type SyncedFrame,
  ThreadlineError,
  toPosition,
} from "@threadline/protocol";
import { AsyncQueue } from "./async-queue.ts";
import { ControlView, type SessionControlView } from "./control-view.ts";
import { MessageView, type SessionMessagesView } from "./message-view.ts";
import { forgetPosition, type PositionStorage, writePosition } from "./position-storage.ts";
import { PresenceView, type SessionPresenceView } from "./presence-view.ts";
import type { PublishResult } from "./publish-queue.ts";
import { notifyAll } from "./report-error.ts";
import { controlEvents, type SessionControls } from "./session-controls.ts";
import { Throttle } from "./throttle.ts";

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
   * Events applied from now on, in order, without duplicates, across reconnects.
   * Ends when the handle detaches or the client closes; throws the terminal
   * error when the attachment fails (e.g. `INSUFFICIENT_STATE`). A consumer
   * more than `highWaterMark` (default 10000) events behind gets the buffered
   * events, then a `SLOW_CONSUMER` ThreadlineError; the handle itself keeps
   * going — re-read what was missed by attaching another client from a position.
   */
  events(opts?: { highWaterMark?: number }): AsyncIterable<SessionRecord>;
  /** Calls `cb` for every applied event. Returns an unsubscribe function. */
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
}

/** What a session handle needs from the client. */
export interface SessionHost {
  /** True while a welcomed socket can carry frames. */
  readonly ready: boolean;
  readonly storage: PositionStorage;
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
      | { op: "attach"; session: string; from?: AttachFrom; history?: AttachHistory }
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
  release(handle: SessionHandleImpl): void;
}

/** At most this many acks per second per session. */
const ACK_INTERVAL_MS = 250;
/** At most one storage write per second per session (plus a final one on detach/close). */
const STORE_INTERVAL_MS = 1_000;
const DEFAULT_HIGH_WATER_MARK = 10_000;
const NOTHING_TO_WRITE: Promise<void> = Promise.resolve();

type State =
  /** Created; the client is still reading the stored position. */
  | "starting"
  /** Waiting for a welcomed socket to send `attach`. */
  | "pending"
  /** `attach` sent, no reply yet. */
  | "attaching"
  | "attached"
  /** Waiting out a backoff before re-attaching (the gateway ended the attachment, retryably). */
  | "retrying"
  | "detached";

export interface SessionHandleOptions {
  autoAck: boolean;
  history: AttachHistory;
}

export class SessionHandleImpl implements SessionHandle {
  private state: State = "starting";
  private positionValue: Position | undefined;
  private syncedValue = false;
  /** Epoch and start seq of the latest `attached`. */
  private attachedAt: { epoch: string; from: number } | undefined;
  /** Bumped for every attach sent; replies and timers of older attaches are ignored. */
  private generation = 0;
  private attachInFlight: Promise<void> | undefined;
  /** rid of the `attach` awaiting its reply. */
  private attachRid: number | undefined;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Frames that arrived in the same tick as `attached` are held for one
   * macrotask, so an app that subscribes right after `await client.attach()`
   * sees them (Node's `ws` can deliver many messages in one tick).
   */
  private holding = false;
  private held: (EventFrame | SyncedFrame)[] = [];

  private ackTarget = 0;
  private ackedSeq = 0;
  private readonly acks = new Throttle(ACK_INTERVAL_MS, () => this.sendAck());

  private storedSeq: number | undefined;
  private readonly storeWrites = new Throttle(STORE_INTERVAL_MS, () => this.writeStore() !== NOTHING_TO_WRITE);

  private readonly eventListeners = new Set<(record: SessionRecord) => void>();
  private readonly syncedListeners = new Set<(seq: number) => void>();
  private readonly errorListeners = new Set<(error: ThreadlineError) => void>();
  private readonly iterators = new Set<AsyncQueue<SessionRecord>>();
  private syncWaiters: { resolve: () => void; reject: (e: ThreadlineError) => void }[] = [];
  private endError: ThreadlineError | undefined;
  private detaching: Promise<void> | undefined;

  private firstAttachSettled = false;
  private resolveFirstAttach!: (handle: SessionHandle) => void;
  private rejectFirstAttach!: (error: ThreadlineError) => void;
  /** Settles with the first `attached` (or the error that ended the handle before it). */
  readonly firstAttach: Promise<SessionHandle>;

  /** `from` of the first attach; undefined lets the gateway use the device cursor. */
  private initialFrom: AttachFrom | undefined;
  private readonly autoAck: boolean;
  private readonly presenceView: PresenceView;
  private readonly messageView = new MessageView();
  private readonly controlView = new ControlView(() => this.host.controlSnapshot(this.id));
  private readonly history: AttachHistory;
  private presenceSeeded = false;

  constructor(
    readonly id: string,
    options: SessionHandleOptions,
    private readonly host: SessionHost,
  ) {
    this.autoAck = options.autoAck;
    this.history = options.history;
    this.presenceView = new PresenceView(
      id,
      () => host.presenceSnapshot(id),
      async (status, metadata) => {
        const reply = await host.request({
          op: "presence",
          session: id,
          status,
          ...(metadata === undefined ? {} : { metadata }),
        }).reply;
        if (reply.op !== "presence_set") {
          throw new ThreadlineError(ErrorCode.INTERNAL, `unexpected reply ${reply.op} to presence`, { session: id });
        }
      },
    );
    this.firstAttach = new Promise<SessionHandle>((resolve, reject) => {
      this.resolveFirstAttach = resolve;
      this.rejectFirstAttach = reject;
    });
  }

  get position(): Position | undefined {
    return this.positionValue && { ...this.positionValue };
  }

  get presence(): SessionPresenceView {
    return this.presenceView;
  }

  get messages(): SessionMessagesView {
    return this.messageView;
  }

  get control(): SessionControlView {
    return this.controlView;
  }

  get synced(): boolean {
    return this.syncedValue;
  }

  /** True once the handle ended (detached, failed, or the client closed); a new attach may replace it after `detaching`. */
  get ended(): boolean {
    return this.state === "detached";
  }

  /** Resolves when an in-progress `detach()` has told the gateway. */
  get detached(): Promise<void> {
    return this.detaching ?? Promise.resolve();
  }

  // ---- public API -------------------------------------------------------------

  events(opts: { highWaterMark?: number } = {}): AsyncIterable<SessionRecord> {
    const highWaterMark = opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    const queue: AsyncQueue<SessionRecord> = new AsyncQueue<SessionRecord>({
      highWaterMark,
      overflow: "fail",
      overflowError: () =>
        new ThreadlineError(
          ErrorCode.SLOW_CONSUMER,
          `events() consumer fell more than ${highWaterMark} events behind on session ${this.id}; ` +
            `seq ${this.positionValue?.seq} and later were not delivered to it`,
          { session: this.id, retryable: false },
        ),
      onClose: () => this.iterators.delete(queue),
    });
    if (this.state === "detached") {
      if (this.endError) queue.fail(this.endError);
      else queue.end();
    } else {
      this.iterators.add(queue);
    }
    return queue;
  }

  onEvent(cb: (record: SessionRecord) => void): () => void {
    return subscribe(this.eventListeners, cb);
  }

  onSynced(cb: (seq: number) => void): () => void {
    return subscribe(this.syncedListeners, cb);
  }

  onError(cb: (error: ThreadlineError) => void): () => void {
    return subscribe(this.errorListeners, cb);
  }

  whenSynced(): Promise<void> {
    if (this.syncedValue) return Promise.resolve();
    if (this.state === "detached") return Promise.reject(this.endError ?? this.detachedError());
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
    });
  }

  publish(event: ClientEvent): Promise<PublishResult> {
    if (this.state === "detached") return Promise.reject(this.endError ?? this.detachedError());
    return this.host.publish(this.id, event);
  }

  cancel = (turn: string, reason?: string) => this.publish(controlEvents.cancel(turn, reason));
  steer = (turn: string, text: string) => this.publish(controlEvents.steer(turn, text));
  answerTool = (call: string, answer: { result: unknown } | { error: string }) =>
    this.publish(controlEvents.answerTool(call, answer));
  approve = (call: string, approved: boolean, reason?: string) =>
    this.publish(controlEvents.approve(call, approved, reason));
  handoff = (action: HandoffAction, reason?: string) => this.publish(controlEvents.handoff(action, reason));

  ack(seq?: number): void {
    if (this.state === "detached") return;
    const last = this.positionValue?.seq;
    const target = seq ?? last;
    if (target === undefined) return;
    if (!isSeq(target) || last === undefined || target > last) {
      throw new ThreadlineError(
        ErrorCode.INVALID_POSITION,
        `cannot ack seq ${String(target)} on session ${this.id}: the last applied seq is ${last ?? "none"}`,
        { session: this.id },
      );
    }
    if (target <= this.ackTarget) return;
    this.ackTarget = target;
    this.acks.schedule();
  }

  detach(): Promise<void> {
    if (this.detaching) return this.detaching;
    if (this.state === "detached") return Promise.resolve();
    const onSocket = this.state === "attached" || this.state === "attaching";
    this.acks.runNow();
    const stored = this.flushStore();
    this.end(undefined);
    this.detaching = Promise.all([stored, this.finishDetach(onSocket)]).then(() => {});
    return this.detaching;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.detach();
  }

  // ---- driven by the client -----------------------------------------------------

  /**
   * Sets where the first attach starts and makes the handle wait for a
   * socket. `from` is a Position read from storage when `fromStorage`: it is
   * then also the position already applied (events up to it are dropped).
   */
  start(from: AttachFrom | undefined, fromStorage: boolean): void {
    if (this.state !== "starting") return;
    this.initialFrom = from;
    if (fromStorage && typeof from === "object") {
      this.positionValue = toPosition(from);
      this.storedSeq = from.seq;
    }
    this.state = "pending";
  }

  /** A socket was welcomed: attach if waiting for one. */
  connectionReady(): void {
    if (this.state === "pending") this.sendAttach();
  }

  /** The socket is gone: the attachment will be redone on the next socket (§14 step 5). */
  connectionLost(): void {
    this.dropHeld();
    this.syncedValue = false;
    if (this.state === "attaching" || this.state === "attached") this.state = "pending";
    this.acks.cancel();
  }

  handleEvent(frame: EventFrame): void {
    if (this.state !== "attached") return;
    if (this.holding) this.held.push(frame);
    else this.apply(frame);
  }

  handleSynced(frame: SyncedFrame): void {
    if (this.state !== "attached") return;
    if (this.holding) this.held.push(frame);
    else this.applySynced(frame);
  }

  /** `detached` without `rid`: the gateway ended the attachment (§8.4). */
  handleServerDetached(frame: DetachedFrame): void {
    if (this.state !== "attached") return;
    const error = ThreadlineError.fromWire({
      code: typeof frame.code === "string" ? frame.code : ErrorCode.INTERNAL,
      message: typeof frame.message === "string" ? frame.message : "the gateway ended the attachment",
      retryable: frame.retryable === true,
      session: this.id,
    });
    if (!error.retryable || error.code === ErrorCode.INSUFFICIENT_STATE) {
      this.fail(error);
      return;
    }
    this.emitError(error);
    this.scheduleReattach(error);
  }

  /** An `error` frame naming this session but no request (e.g. a refused `ack`). */
  handleError(error: ThreadlineError): void {
    if (this.state === "detached") return;
    if (error.code === ErrorCode.INSUFFICIENT_STATE) this.fail(error);
    else this.emitError(error);
  }

  /** The client closed: end without telling the gateway (the socket is closing). `error` when it failed. */
  clientClosed(error: ThreadlineError | undefined): void {
    if (this.state === "detached") return;
    this.end(error);
  }

  /** Before the client closes: send the pending ack and write the position. */
  flush(): Promise<void> {
    this.acks.runNow();
    return this.flushStore();
  }

  // ---- attach -----------------------------------------------------------------

  private sendAttach(): void {
    const generation = ++this.generation;
    this.state = "attaching";
    this.syncedValue = false;
    const from = this.resumeFrom();
    const { rid, reply } = this.host.request({
      op: "attach",
      session: this.id,
      ...(from === undefined ? {} : { from }),
      // "full" is the wire default: the frame only names compact.
      ...(this.history === "compact" ? { history: this.history } : {}),
    });
    this.attachRid = rid;
    this.attachInFlight = reply.then(
      () => {},
      () => {},
    );
    // Success is handled synchronously by handleAttached (events may follow in the same tick); errors here.
    reply.then(
      () => {},
      (error: unknown) => {
        if (generation !== this.generation || this.state !== "attaching") return;
        this.attachFailed(
          error instanceof ThreadlineError
            ? error
            : new ThreadlineError(ErrorCode.INTERNAL, "attach failed", { cause: error, session: this.id }),
        );
      },
    );
  }

  /** §14 steps 2 and 5: the last applied position, else the last attachment's start, else the app's choice. */
  private resumeFrom(): AttachFrom | undefined {
    if (this.positionValue) return toPosition(this.positionValue);
    if (this.attachedAt) return { epoch: this.attachedAt.epoch, seq: this.attachedAt.from };
    return this.initialFrom;
  }

  /**
   * The reply to our `attach`. Called synchronously by the client as the
   * frame arrives, because `event` frames can follow it within the same tick.
   */
  handleAttached(frame: AttachedFrame): void {
    if (this.state !== "attaching" || frame.rid !== this.attachRid) return;
    const generation = this.generation;
    this.attachRid = undefined;
    this.state = "attached";
    const from = isSeq(frame.from) ? frame.from : 0;
    if (this.positionValue && this.positionValue.epoch !== frame.epoch) {
      // A new stream instance: seqs of the old epoch mean nothing any more.
      this.positionValue = undefined;
      this.ackTarget = 0;
      this.ackedSeq = 0;
    }
    this.attachedAt = { epoch: frame.epoch, from };
    this.holding = true;
    setTimeout(() => this.releaseHeld(generation), 0);
    // The previous socket's last ack may have been lost with it; repeat it (it is ≤ `from`, so valid).
    if (this.ackTarget > 0 && this.ackTarget <= from) this.ackedSeq = 0;
    this.acks.schedule();
    if (!this.firstAttachSettled) {
      this.firstAttachSettled = true;
      this.resolveFirstAttach(this);
    }
  }

  private attachFailed(error: ThreadlineError): void {
    if (error.code === ErrorCode.CLOSED && error.retryable) {
      // The socket went away; connectionLost() already queued a re-attach on the next socket.
      if (this.state === "attaching") this.state = "pending";
      return;
    }
    if (error.code === ErrorCode.TIMEOUT) {
      // Re-sending on this socket could race the first attach; reconnecting redoes it cleanly.
      this.state = "pending";
      this.host.dropConnection(error);
      return;
    }
    if (error.retryable) {
      this.emitError(error);
      this.scheduleReattach(error);
      return;
    }
    this.fail(error);
  }

  private scheduleReattach(cause: ThreadlineError): void {
    this.dropHeld();
    this.syncedValue = false;
    this.retries++;
    const policy = this.host.reattachPolicy;
    if (!canRetry(this.retries, policy)) {
      this.fail(
        new ThreadlineError(
          cause.code,
          `gave up re-attaching ${this.id} after ${policy.maxAttempts} attempts: ${cause.message}`,
          {
            cause,
            session: this.id,
            retryable: false,
          },
        ),
      );
      return;
    }
    this.state = "retrying";
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        if (this.state !== "retrying") return;
        if (this.host.ready) this.sendAttach();
        else this.state = "pending";
      },
      backoffDelay(this.retries, policy),
    );
  }

  // ---- events -----------------------------------------------------------------

  private releaseHeld(generation: number): void {
    if (generation !== this.generation) return;
    const held = this.held;
    this.held = [];
    this.holding = false;
    for (const frame of held) {
      if (this.state !== "attached" || generation !== this.generation) return;
      if (frame.op === "event") this.apply(frame);
      else this.applySynced(frame);
    }
  }

  private dropHeld(): void {
    this.held = [];
    this.holding = false;
  }

  private apply(frame: EventFrame): void {
    const attachedAt = this.attachedAt!;
    const last = this.positionValue?.seq ?? attachedAt.from;
    // §14 step 4: at or below the last applied seq is a replay of something already applied.
    if (!isSeq(frame.seq) || !isNewSeq(last, frame.seq)) return;
    // The event's id goes with the position: the gateway checks the stream still holds it there (§8.1).
    const id = frame.event && isEventId(frame.event.id) ? frame.event.id : undefined;
    this.positionValue = { epoch: attachedAt.epoch, seq: frame.seq, ...(id === undefined ? {} : { id }) };
    this.storeWrites.schedule();
    if (this.autoAck) {
      this.ackTarget = frame.seq;
      this.acks.schedule();
    }
    const record: SessionRecord = { session: this.id, seq: frame.seq, event: frame.event };
    this.presenceView.apply(frame.event);
    this.messageView.apply(record);
    this.controlView.apply(record);
    notifyAll(this.eventListeners, record);
    for (const queue of [...this.iterators]) queue.push(record);
  }

  private applySynced(frame: SyncedFrame): void {
    this.syncedValue = true;
    this.retries = 0;
    this.presenceView.reapply();
    if (!this.presenceSeeded) {
      // Events replayed from a cursor or `now` miss earlier joins: seed the view once. A failed
      // snapshot leaves the event-built view (and is retried after the next sync).
      this.presenceSeeded = true;
      this.presenceView.refresh().catch(() => {
        this.presenceSeeded = false;
      });
    }
    this.controlView.seedOwner();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.resolve();
    notifyAll(this.syncedListeners, isSeq(frame.seq) ? frame.seq : (this.positionValue?.seq ?? 0));
  }

  // ---- acks and storage -----------------------------------------------------------

  /** Sends the ack target if it is ahead of the last ack sent; true when a frame went out. */
  private sendAck(): boolean {
    if (this.state !== "attached" || this.ackTarget <= this.ackedSeq) return false;
    if (!this.host.send({ op: "ack", session: this.id, seq: this.ackTarget })) return false;
    this.ackedSeq = this.ackTarget;
    return true;
  }

  /** Writes the position now if it changed since the last write. */
  private flushStore(): Promise<void> {
    this.storeWrites.cancel();
    return this.writeStore();
  }

  /** Writes the position if it changed since the last write; NOTHING_TO_WRITE otherwise. */
  private writeStore(): Promise<void> {
    const position = this.positionValue;
    if (!position || position.seq === this.storedSeq) return NOTHING_TO_WRITE;
    this.storedSeq = position.seq;
    return writePosition(this.host.storage, this.id, position);
  }

  // ---- ending -----------------------------------------------------------------

  /** Ends the attachment for good because of `error`: onError, iterators throw it, the client forgets the handle. */
  private fail(error: ThreadlineError): void {
    if (this.state === "detached") return;
    if (error.code === ErrorCode.INSUFFICIENT_STATE) {
      // The stored position can never be resumed; forget it so a plain attach() does not repeat the failure.
      this.positionValue = undefined;
      this.storedSeq = undefined;
      void forgetPosition(this.host.storage, this.id);
    }
    this.end(error);
    this.emitError(error);
    this.host.release(this);
  }

  private end(error: ThreadlineError | undefined): void {
    this.state = "detached";
    this.generation++;
    this.endError = error;
    this.dropHeld();
    this.syncedValue = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.acks.cancel();
    // Keep what was applied (a no-op after INSUFFICIENT_STATE, which cleared the position).
    void this.flushStore();
    const reason = error ?? this.detachedError();
    if (!this.firstAttachSettled) {
      this.firstAttachSettled = true;
      this.rejectFirstAttach(reason);
    }
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.reject(reason);
    for (const queue of [...this.iterators]) {
      if (error) queue.fail(error);
      else queue.end();
    }
    this.iterators.clear();
  }

  private async finishDetach(onSocket: boolean): Promise<void> {
    try {
      if (onSocket && this.attachInFlight) await this.attachInFlight;
      if (onSocket && this.host.ready) await this.host.request({ op: "detach", session: this.id }).reply;
    } catch {
      // NOT_ATTACHED, CLOSED, TIMEOUT: the gateway holds no attachment for us either way once the socket is gone.
    } finally {
      this.host.release(this);
    }
  }

  private emitError(error: ThreadlineError): void {
    notifyAll(this.errorListeners, error);
  }

  private detachedError(): ThreadlineError {
    return new ThreadlineError(ErrorCode.CLOSED, `session ${this.id} is detached`, {
      session: this.id,
      retryable: false,
    });
  }
}

function subscribe<T>(set: Set<T>, value: T): () => void {
  set.add(value);
  return () => {
    set.delete(value);
  };
}
