// Over 400 lines: the driver of the pure session machine (session-machine.ts) running its effects; delivery, position sync, presence and state live in their own files.
import {
  type AttachedFrame,
  type AttachFrom,
  backoffDelay,
  type ClientEvent,
  type DetachedFrame,
  ErrorCode,
  type EventFrame,
  type HandoffAction,
  isSeq,
  type Position,
  type SessionRecord,
  type StateFrame,
  type StateObject,
  type SyncedFrame,
  ThreadlineError,
} from "@threadline/protocol";
import { ControlView, type SessionControlView } from "./control-view.ts";
import { DEFAULT_HIGH_WATER_MARK, EventDelivery } from "./event-delivery.ts";
import { MessageView, type SessionMessagesView } from "./message-view.ts";
import { PositionSync } from "./position-sync.ts";
import { PresenceView, type SessionPresenceView } from "./presence-view.ts";
import type { PublishResult } from "./publish-queue.ts";
import { notifyAll } from "./report-error.ts";
import { controlEvents } from "./session-controls.ts";
import type { SessionHandle, SessionHandleOptions, SessionHost } from "./session-handle-api.ts";
import {
  initialSessionState,
  reduceSession,
  type SessionEffect,
  type SessionInput,
  type SessionState,
} from "./session-machine.ts";
import { type StateHandle, StateHandles } from "./state-handle.ts";
import { type StateChange, StateView } from "./state-view.ts";

export type { SessionHandle, SessionHandleOptions, SessionHost } from "./session-handle-api.ts";

/**
 * Drives one session: feeds what happens (frames, socket changes, replies,
 * timers, app calls) to the pure `reduceSession` and runs the effects it
 * returns — I/O through the `SessionHost`, the retry timer, acks and storage
 * (`PositionSync`), views and listeners (`EventDelivery`).
 */
export class SessionHandleImpl implements SessionHandle {
  private machine: SessionState = initialSessionState;
  /** rid and generation of the `attach` awaiting its reply. */
  private attachRequest: { rid: number | undefined; generation: number } | undefined;
  private attachInFlight: Promise<void> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private endError: ThreadlineError | undefined;
  private detaching: Promise<void> | undefined;
  /** The position write started when the handle ended. */
  private finalWrite: Promise<void> = Promise.resolve();

  private readonly delivery: EventDelivery;
  private readonly sync: PositionSync;
  private readonly errorListeners = new Set<(error: ThreadlineError) => void>();
  private syncWaiters: { resolve: () => void; reject: (e: ThreadlineError) => void }[] = [];

  private resolveFirstAttach!: (handle: SessionHandle) => void;
  private rejectFirstAttach!: (error: ThreadlineError) => void;
  /** Settles with the first `attached` (or the error that ended the handle before it). */
  readonly firstAttach: Promise<SessionHandle>;

  private readonly presenceView: PresenceView;
  private readonly messageView = new MessageView();
  private readonly controlView = new ControlView(() => this.host.controlSnapshot(this.id));
  private readonly stateView: StateView;
  private readonly stateHandles: StateHandles;

  constructor(
    readonly id: string,
    private readonly options: SessionHandleOptions,
    private readonly host: SessionHost,
  ) {
    this.delivery = new EventDelivery(id, () => this.machine.position?.seq);
    this.sync = new PositionSync(
      id,
      host.storage,
      (frame) => host.send(frame),
      () => this.machine.position,
      () => this.machine.phase === "attached",
    );
    this.stateView = new StateView(id);
    this.stateHandles = new StateHandles({
      session: id,
      view: this.stateView,
      participant: () => host.participant ?? { kind: "user", id: "" },
      publish: (event) => this.publish(event),
    });
    this.presenceView = new PresenceView(id, () => host.presenceSnapshot(id), presenceSender(host, id));
    this.firstAttach = new Promise<SessionHandle>((resolve, reject) => {
      this.resolveFirstAttach = resolve;
      this.rejectFirstAttach = reject;
    });
  }

  get position(): Position | undefined {
    const position = this.machine.position;
    return position && { ...position };
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

  state<T extends StateObject["value"] = StateObject["value"]>(name: string): StateHandle<T> {
    return this.stateHandles.get<T>(name);
  }

  states(): Readonly<Record<string, StateObject>> {
    return this.stateView.state.objects;
  }

  onStateChange(cb: (change: StateChange) => void): () => void {
    return this.stateView.onChange(cb);
  }

  get synced(): boolean {
    return this.machine.synced;
  }

  /** True once the handle ended (detached, failed, or the client closed); a new attach may replace it after `detaching`. */
  get ended(): boolean {
    return this.machine.phase === "detached";
  }

  /** Resolves when an in-progress `detach()` has told the gateway. */
  get detached(): Promise<void> {
    return this.detaching ?? Promise.resolve();
  }

  // ---- public API -------------------------------------------------------------

  events(opts: { highWaterMark?: number } = {}): AsyncIterable<SessionRecord> {
    return this.delivery.events(opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK);
  }

  onEvent(cb: (record: SessionRecord) => void): () => void {
    return this.delivery.onEvent(cb);
  }

  onSynced(cb: (seq: number) => void): () => void {
    return this.delivery.onSynced(cb);
  }

  onError(cb: (error: ThreadlineError) => void): () => void {
    this.errorListeners.add(cb);
    return () => {
      this.errorListeners.delete(cb);
    };
  }

  whenSynced(): Promise<void> {
    if (this.machine.synced) return Promise.resolve();
    if (this.ended) return Promise.reject(this.endError ?? this.detachedError());
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
    });
  }

  publish(event: ClientEvent): Promise<PublishResult> {
    if (this.ended) return Promise.reject(this.endError ?? this.detachedError());
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
    if (this.ended) return;
    const last = this.machine.position?.seq;
    const target = seq ?? last;
    if (target === undefined) return;
    if (!isSeq(target) || last === undefined || target > last) {
      throw new ThreadlineError(
        ErrorCode.INVALID_POSITION,
        `cannot ack seq ${String(target)} on session ${this.id}: the last applied seq is ${last ?? "none"}`,
        { session: this.id },
      );
    }
    this.sync.ackUpTo(target);
  }

  detach(): Promise<void> {
    if (this.detaching) return this.detaching;
    if (this.ended) return Promise.resolve();
    this.dispatch({ type: "detach" });
    return this.detaching ?? Promise.resolve();
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
    this.dispatch({ type: "start", from, fromStorage });
  }

  /** A socket was welcomed: attach if waiting for one. */
  connectionReady(): void {
    this.dispatch({ type: "connectionReady" });
  }

  /** The socket is gone: the attachment will be redone on the next socket (§14 step 5). */
  connectionLost(): void {
    this.dispatch({ type: "connectionLost" });
  }

  /**
   * The reply to our `attach`. Called synchronously by the client as the
   * frame arrives, because `event` frames can follow it within the same tick.
   */
  handleAttached(frame: AttachedFrame): void {
    const request = this.attachRequest;
    if (!request || frame.rid !== request.rid) return;
    this.attachRequest = undefined;
    this.dispatch({ type: "attached", generation: request.generation, epoch: frame.epoch, from: frame.from });
  }

  handleEvent(frame: EventFrame): void {
    this.dispatch({ type: "event", seq: frame.seq, event: frame.event });
  }

  /** The snapshot an attach with `state: true` asked for (PROTOCOL.md §19.5). */
  handleState(frame: StateFrame): void {
    this.dispatch({ type: "stateSnapshot", seq: frame.seq, objects: frame.objects });
  }

  handleSynced(frame: SyncedFrame): void {
    this.dispatch({ type: "synced", seq: frame.seq });
  }

  /** `detached` without `rid`: the gateway ended the attachment (§8.4). */
  handleServerDetached(frame: DetachedFrame): void {
    const error = ThreadlineError.fromWire({
      code: typeof frame.code === "string" ? frame.code : ErrorCode.INTERNAL,
      message: typeof frame.message === "string" ? frame.message : "the gateway ended the attachment",
      retryable: frame.retryable === true,
      session: this.id,
    });
    this.dispatch({ type: "gatewayDetached", error });
  }

  /** An `error` frame naming this session but no request (e.g. a refused `ack`). */
  handleError(error: ThreadlineError): void {
    this.dispatch({ type: "sessionError", error });
  }

  /** The client closed: end without telling the gateway (the socket is closing). `error` when it failed. */
  clientClosed(error: ThreadlineError | undefined): void {
    this.dispatch({ type: "clientClosed", error });
  }

  /** Before the client closes: send the pending ack and write the position. */
  flush(): Promise<void> {
    this.sync.runAck();
    return this.sync.flushStore();
  }

  // ---- the machine's effects -------------------------------------------------------

  private dispatch(input: SessionInput): void {
    const step = reduceSession(this.machine, input, { session: this.id, reattachPolicy: this.host.reattachPolicy });
    this.machine = step.state;
    for (const effect of step.effects) this.run(effect);
  }

  private run(effect: SessionEffect): void {
    switch (effect.type) {
      case "sendAttach":
        this.sendAttach(effect.from, effect.generation, effect.state);
        return;
      case "positionStored":
        this.sync.stored(effect.seq);
        return;
      case "dropConnection":
        this.host.dropConnection(effect.error);
        return;
      case "attached":
        if (effect.epochChanged) this.sync.resetAcks();
        this.sync.attachedFrom(effect.from);
        return;
      case "replaceState":
        this.stateView.replace(effect.seq, effect.objects);
        return;
      case "resetState":
        this.stateView.reset();
        return;
      case "resolveFirstAttach":
        this.resolveFirstAttach(this);
        return;
      case "deliverEvent":
        this.deliver(effect.position.seq, effect.event);
        return;
      case "synced":
        this.reachedLive(effect.seq);
        return;
      case "scheduleRetry":
        this.retryTimer = setTimeout(
          () => {
            this.retryTimer = undefined;
            this.dispatch({ type: "retryTimerFired", ready: this.host.ready });
          },
          backoffDelay(effect.attempt, this.host.reattachPolicy),
        );
        return;
      case "flushAck":
        this.sync.flushAck();
        return;
      case "cancelAck":
        this.sync.cancelAck();
        return;
      case "emitError":
        notifyAll(this.errorListeners, effect.error);
        return;
      case "forgetPosition":
        void this.sync.forget();
        return;
      case "end":
        this.end(effect.error, effect.rejectFirstAttach);
        return;
      case "sendDetach":
        this.detaching = Promise.all([this.finalWrite, this.finishDetach(effect.awaitAttach)]).then(noop);
        return;
      case "release":
        this.host.release(this);
        return;
    }
  }

  private sendAttach(from: AttachFrom | undefined, generation: number, state: boolean): void {
    const { rid, reply } = this.host.request({
      op: "attach",
      session: this.id,
      ...(from === undefined ? {} : { from }),
      // "full" is the wire default: the frame only names compact.
      ...(this.options.history === "compact" ? { history: "compact" as const } : {}),
      ...(state ? { state: true } : {}),
    });
    this.attachRequest = { rid, generation };
    this.attachInFlight = reply.then(noop, noop);
    // Success is handled synchronously by handleAttached (events may follow in the same tick); errors here.
    reply.catch((error: unknown) => {
      const failure =
        error instanceof ThreadlineError
          ? error
          : new ThreadlineError(ErrorCode.INTERNAL, "attach failed", { cause: error, session: this.id });
      this.dispatch({ type: "attachFailed", generation, error: failure });
    });
  }

  private deliver(seq: number, event: EventFrame["event"]): void {
    this.sync.scheduleStore();
    if (this.options.autoAck) this.sync.ackUpTo(seq);
    const record: SessionRecord = { session: this.id, seq, event };
    // State first: a listener of any view or event reads the state as of this event.
    this.stateView.apply(record);
    this.presenceView.apply(event);
    this.messageView.apply(record);
    this.controlView.apply(record);
    this.delivery.deliverEvent(record);
  }

  private reachedLive(seq: number): void {
    this.presenceView.reapply();
    this.presenceView.seedOnce();
    this.controlView.seedOwner();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.resolve();
    this.delivery.deliverSynced(seq);
  }

  private end(error: ThreadlineError | undefined, rejectFirstAttach: boolean): void {
    this.endError = error;
    this.attachRequest = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // Keep what was applied (a no-op after INSUFFICIENT_STATE, which cleared the position).
    this.finalWrite = this.sync.flushStore();
    const reason = error ?? this.detachedError();
    if (rejectFirstAttach) this.rejectFirstAttach(reason);
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.reject(reason);
    this.stateView.end(reason);
    this.delivery.end(error);
  }

  private async finishDetach(awaitAttach: boolean): Promise<void> {
    try {
      if (awaitAttach && this.attachInFlight) await this.attachInFlight;
      if (awaitAttach && this.host.ready) await this.host.request({ op: "detach", session: this.id }).reply;
    } catch {
      // NOT_ATTACHED, CLOSED, TIMEOUT: the gateway holds no attachment for us either way once the socket is gone.
    } finally {
      this.host.release(this);
    }
  }

  private detachedError(): ThreadlineError {
    return new ThreadlineError(ErrorCode.CLOSED, `session ${this.id} is detached`, {
      session: this.id,
      retryable: false,
    });
  }
}

const noop = () => {};

/** Sets this device's presence in `session` through the gateway (`presence` → `presence_set`). */
function presenceSender(host: SessionHost, session: string) {
  return async (status: string, metadata: Record<string, unknown> | undefined): Promise<void> => {
    const reply = await host.request({
      op: "presence",
      session,
      status,
      ...(metadata === undefined ? {} : { metadata }),
    }).reply;
    if (reply.op !== "presence_set") {
      throw new ThreadlineError(ErrorCode.INTERNAL, `unexpected reply ${reply.op} to presence`, { session });
    }
  };
}
