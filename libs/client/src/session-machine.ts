import {
  type AttachFrom,
  type BackoffPolicy,
  canRetry,
  ErrorCode,
  isEventId,
  isNewSeq,
  isSeq,
  type Position,
  type SessionEvent,
  type StateObject,
  ThreadlineError,
  toPosition,
} from "@threadline/protocol";

/**
 * The session handle's attach/resume decisions (PROTOCOL.md §14) as a pure
 * reducer: `reduceSession(state, input, context) → { state, effects }`.
 * No I/O, no timers, no listeners: `SessionHandleImpl` feeds it what
 * happened (socket up/down, replies, frames, timers firing, app calls) and
 * runs the effects it returns, in order.
 */

export type SessionPhase =
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

export interface SessionState {
  readonly phase: SessionPhase;
  /** The last applied event's position; undefined until one was applied (or after a new epoch / INSUFFICIENT_STATE). */
  readonly position: Position | undefined;
  /** Epoch and start seq of the latest `attached`. */
  readonly attachedAt: { readonly epoch: string; readonly from: number } | undefined;
  /** `from` of the first attach; undefined lets the gateway use the device cursor. */
  readonly initialFrom: AttachFrom | undefined;
  /** Replay reached live on the current attachment. */
  readonly synced: boolean;
  /** Bumped for every attach sent and when the handle ends: replies to older attaches are ignored. */
  readonly generation: number;
  /** Re-attach attempts since the last sync (the backoff attempt number). */
  readonly retries: number;
  /** `attach()` has resolved or rejected. */
  readonly firstAttachSettled: boolean;
  /**
   * The handle holds the shared state (PROTOCOL.md §19) as of its resume
   * position: from a `state` snapshot, or folded from `"start"`. While false,
   * every attach asks for a snapshot (`state: true`).
   */
  readonly stateHeld: boolean;
  /** The attach in flight / the current attachment asked for a snapshot that has not arrived yet. */
  readonly awaitingState: boolean;
}

export const initialSessionState: SessionState = {
  phase: "starting",
  position: undefined,
  attachedAt: undefined,
  initialFrom: undefined,
  synced: false,
  generation: 0,
  retries: 0,
  firstAttachSettled: false,
  stateHeld: false,
  awaitingState: false,
};

export type SessionInput =
  /** The client read the stored position (`fromStorage`: `from` is it, and already applied). */
  | { type: "start"; from: AttachFrom | undefined; fromStorage: boolean }
  /** A welcomed socket can carry frames. */
  | { type: "connectionReady" }
  /** The socket is gone. */
  | { type: "connectionLost" }
  /** The gateway answered the attach sent with `generation`. */
  | { type: "attached"; generation: number; epoch: string; from: unknown }
  /** The attach sent with `generation` failed (error reply, timeout, socket lost). */
  | { type: "attachFailed"; generation: number; error: ThreadlineError }
  /** An `event` frame for the session. */
  | { type: "event"; seq: unknown; event: SessionEvent }
  /** A `state` frame for the session: every shared state object as of `seq` (§19.5). */
  | { type: "stateSnapshot"; seq: unknown; objects: unknown }
  /** A `synced` frame for the session. */
  | { type: "synced"; seq: unknown }
  /** `detached` without rid: the gateway ended the attachment (§8.4). */
  | { type: "gatewayDetached"; error: ThreadlineError }
  /** An `error` frame naming the session but no request (e.g. a refused ack). */
  | { type: "sessionError"; error: ThreadlineError }
  /** The re-attach backoff elapsed; `ready`: a welcomed socket is up. */
  | { type: "retryTimerFired"; ready: boolean }
  /** The app called `detach()`. */
  | { type: "detach" }
  /** The client closed (with `error` when it failed). */
  | { type: "clientClosed"; error: ThreadlineError | undefined };

export type SessionEffect =
  /**
   * Send `attach` from `from` (undefined: the gateway's default); its reply is
   * fed back with `generation`. `state`: ask for a state snapshot (§19.5).
   */
  | { type: "sendAttach"; from: AttachFrom | undefined; generation: number; state: boolean }
  /** The previous write of the position to storage was at `seq` (read from storage at start). */
  | { type: "positionStored"; seq: number }
  /** The attach reply timed out: drop the socket and reconnect (re-sending on it could race the first attach). */
  | { type: "dropConnection"; error: ThreadlineError }
  /** `attached` arrived; `epochChanged`: seqs of the old epoch mean nothing any more (reset acks). */
  | { type: "attached"; from: number; epochChanged: boolean }
  /** Replace the shared state with the snapshot `objects` at `seq` (a `state` frame). */
  | { type: "replaceState"; seq: number; objects: Record<string, StateObject> }
  /** Empty the shared state: what it held belongs to another epoch (and no snapshot is coming). */
  | { type: "resetState" }
  /** Resolve `attach()` with the handle. */
  | { type: "resolveFirstAttach" }
  /** Apply and deliver the event at `position` (views, listeners, iterators, ack, storage). */
  | { type: "deliverEvent"; position: Position; event: SessionEvent }
  /** Replay reached live at `seq`. */
  | { type: "synced"; seq: number }
  /** Re-attach after the backoff for this attempt (`backoffDelay(attempt, policy)`). */
  | { type: "scheduleRetry"; attempt: number }
  /** Send the pending ack now (the attachment is about to end on a live socket). */
  | { type: "flushAck" }
  /** Drop the scheduled ack (no socket to carry it, or the handle ended). */
  | { type: "cancelAck" }
  /** Report an error to `onError` listeners. */
  | { type: "emitError"; error: ThreadlineError }
  /** Delete the stored position: it can never be resumed. */
  | { type: "forgetPosition" }
  /**
   * The handle ended: cancel the retry timer, write the position, end
   * iterators (failing them with `error`), reject sync waiters — and
   * `attach()` when `rejectFirstAttach`.
   */
  | { type: "end"; error: ThreadlineError | undefined; rejectFirstAttach: boolean }
  /** Tell the gateway (`detach`), after the attach in flight when `awaitAttach`, then forget the handle. */
  | { type: "sendDetach"; awaitAttach: boolean }
  /** The client should forget the handle. */
  | { type: "release" };

export interface SessionContext {
  readonly session: string;
  /** Backoff for re-attaching after the gateway ended an attachment with a retryable error. */
  readonly reattachPolicy: BackoffPolicy;
}

export interface SessionStep {
  state: SessionState;
  effects: SessionEffect[];
}

export function reduceSession(state: SessionState, input: SessionInput, context: SessionContext): SessionStep {
  switch (input.type) {
    case "start": {
      if (state.phase !== "starting") return unchanged(state);
      const stored = input.fromStorage && typeof input.from === "object" ? toPosition(input.from) : undefined;
      return {
        state: { ...state, phase: "pending", initialFrom: input.from, position: stored ?? state.position },
        effects: stored ? [{ type: "positionStored", seq: stored.seq }] : [],
      };
    }
    case "connectionReady":
      return state.phase === "pending" ? sendAttach(state, []) : unchanged(state);
    case "connectionLost": {
      // §14 step 5: the attachment is redone on the next socket.
      const onSocket = state.phase === "attaching" || state.phase === "attached";
      return {
        state: { ...state, synced: false, phase: onSocket ? "pending" : state.phase },
        effects: [{ type: "cancelAck" }],
      };
    }
    case "attached":
      return attached(state, input);
    case "attachFailed":
      if (state.phase !== "attaching" || input.generation !== state.generation) return unchanged(state);
      return attachFailed(state, input.error, context);
    case "event":
      return event(state, input.seq, input.event);
    case "stateSnapshot":
      return stateSnapshot(state, input.seq, input.objects);
    case "synced": {
      if (state.phase !== "attached") return unchanged(state);
      const seq = isSeq(input.seq) ? input.seq : (state.position?.seq ?? 0);
      const settled = noSnapshotCame(state);
      return {
        state: { ...settled.state, synced: true, retries: 0 },
        effects: [...settled.effects, { type: "synced", seq }],
      };
    }
    case "gatewayDetached": {
      if (state.phase !== "attached") return unchanged(state);
      if (!input.error.retryable || input.error.code === ErrorCode.INSUFFICIENT_STATE) return fail(state, input.error);
      return scheduleReattach(state, input.error, [{ type: "emitError", error: input.error }], context);
    }
    case "sessionError":
      if (state.phase === "detached") return unchanged(state);
      if (input.error.code === ErrorCode.INSUFFICIENT_STATE) return fail(state, input.error);
      return { state, effects: [{ type: "emitError", error: input.error }] };
    case "retryTimerFired":
      if (state.phase !== "retrying") return unchanged(state);
      return input.ready ? sendAttach(state, []) : { state: { ...state, phase: "pending" }, effects: [] };
    case "detach": {
      if (state.phase === "detached") return unchanged(state);
      const awaitAttach = state.phase === "attached" || state.phase === "attaching";
      const flush: SessionEffect[] = state.phase === "attached" ? [{ type: "flushAck" }] : [];
      const ended = end(state, undefined, flush);
      return { state: ended.state, effects: [...ended.effects, { type: "sendDetach", awaitAttach }] };
    }
    case "clientClosed":
      return state.phase === "detached" ? unchanged(state) : end(state, input.error, []);
  }
}

/** §14 steps 2 and 5: the last applied position, else the last attachment's start, else the app's choice. */
export function resumeFrom(state: SessionState): AttachFrom | undefined {
  if (state.position) return toPosition(state.position);
  if (state.attachedAt) return { epoch: state.attachedAt.epoch, seq: state.attachedAt.from };
  return state.initialFrom;
}

function unchanged(state: SessionState): SessionStep {
  return { state, effects: [] };
}

/**
 * Whether an attach from `from` asks for a state snapshot (§19.5): only when
 * the handle holds no state for its position — the first attach from
 * "now"/"cursor"/a stored position (storage keeps positions, not state), or
 * any attach before a snapshot arrived. A resume with the state it holds
 * needs none (the events after its position carry every change), and
 * `"start"` folds the whole history from the empty state.
 */
export function wantsStateSnapshot(state: SessionState, from: AttachFrom | undefined): boolean {
  return !state.stateHeld && from !== "start";
}

function sendAttach(state: SessionState, before: SessionEffect[]): SessionStep {
  const generation = state.generation + 1;
  const from = resumeFrom(state);
  const wantsState = wantsStateSnapshot(state, from);
  return {
    state: { ...state, phase: "attaching", synced: false, generation, awaitingState: wantsState },
    effects: [...before, { type: "sendAttach", from, generation, state: wantsState }],
  };
}

function attached(state: SessionState, input: Extract<SessionInput, { type: "attached" }>): SessionStep {
  if (state.phase !== "attaching" || input.generation !== state.generation) return unchanged(state);
  const from = isSeq(input.from) ? input.from : 0;
  // A new stream instance: seqs of the old epoch mean nothing any more.
  const epochChanged = state.position !== undefined && state.position.epoch !== input.epoch;
  const effects: SessionEffect[] = [{ type: "attached", from, epochChanged }];
  // A state held for the old epoch is meaningless. Unreachable with a conforming gateway (a resume is a
  // Position, refused in another epoch with INSUFFICIENT_STATE); the next attach asks for a snapshot.
  const stale = epochChanged && state.stateHeld && !state.awaitingState;
  if (stale) effects.push({ type: "resetState" });
  // With a snapshot coming, attach() resolves once it is applied, so state(name).get() is current at once.
  if (!state.firstAttachSettled && !state.awaitingState) effects.push({ type: "resolveFirstAttach" });
  return {
    state: {
      ...state,
      phase: "attached",
      position: epochChanged ? undefined : state.position,
      attachedAt: { epoch: input.epoch, from },
      firstAttachSettled: state.firstAttachSettled || !state.awaitingState,
      // Without a snapshot asked for, the handle holds the state: it resumed with it, or folds it from "start".
      stateHeld: !state.awaitingState && !stale,
    },
    effects,
  };
}

function stateSnapshot(state: SessionState, seq: unknown, objects: unknown): SessionStep {
  // Only the snapshot the current attachment asked for; it precedes every event of the attachment.
  if (state.phase !== "attached" || !state.awaitingState || !isSeq(seq)) return unchanged(state);
  if (typeof objects !== "object" || objects === null || Array.isArray(objects)) return unchanged(state);
  const effects: SessionEffect[] = [{ type: "replaceState", seq, objects: objects as Record<string, StateObject> }];
  if (!state.firstAttachSettled) effects.push({ type: "resolveFirstAttach" });
  return { state: { ...state, awaitingState: false, stateHeld: true, firstAttachSettled: true }, effects };
}

/**
 * An event or `synced` arrived while a snapshot was still expected: the
 * gateway does not send `state` frames (one predating §19). Stop waiting so
 * attach() resolves; the state stays "not held", so later attaches ask again.
 */
function noSnapshotCame(state: SessionState): SessionStep {
  if (!state.awaitingState) return unchanged(state);
  const effects: SessionEffect[] = state.firstAttachSettled ? [] : [{ type: "resolveFirstAttach" }];
  return { state: { ...state, awaitingState: false, firstAttachSettled: true }, effects };
}

function event(state: SessionState, seq: unknown, sessionEvent: SessionEvent): SessionStep {
  if (state.phase !== "attached" || !state.attachedAt) return unchanged(state);
  const last = state.position?.seq ?? state.attachedAt.from;
  // §14 step 4: at or below the last applied seq is a replay of something already applied.
  if (!isSeq(seq) || !isNewSeq(last, seq)) return unchanged(state);
  // The event's id goes with the position: the gateway checks the stream still holds it there (§8.1).
  const id = isEventId(sessionEvent?.id) ? sessionEvent.id : undefined;
  const position: Position = { epoch: state.attachedAt.epoch, seq, ...(id === undefined ? {} : { id }) };
  const settled = noSnapshotCame(state);
  return {
    state: { ...settled.state, position },
    effects: [...settled.effects, { type: "deliverEvent", position, event: sessionEvent }],
  };
}

function attachFailed(state: SessionState, error: ThreadlineError, context: SessionContext): SessionStep {
  if (error.code === ErrorCode.CLOSED && error.retryable) {
    // The socket went away; connectionLost already queued a re-attach on the next socket.
    return { state: { ...state, phase: "pending" }, effects: [] };
  }
  if (error.code === ErrorCode.TIMEOUT) {
    // Re-sending on this socket could race the first attach; reconnecting redoes it cleanly.
    return { state: { ...state, phase: "pending" }, effects: [{ type: "dropConnection", error }] };
  }
  if (error.retryable) return scheduleReattach(state, error, [{ type: "emitError", error }], context);
  return fail(state, error);
}

function scheduleReattach(
  state: SessionState,
  cause: ThreadlineError,
  before: SessionEffect[],
  context: SessionContext,
): SessionStep {
  const retries = state.retries + 1;
  const policy = context.reattachPolicy;
  const next: SessionState = { ...state, synced: false, retries };
  if (!canRetry(retries, policy)) {
    const gaveUp = new ThreadlineError(
      cause.code,
      `gave up re-attaching ${context.session} after ${policy.maxAttempts} attempts: ${cause.message}`,
      { cause, session: context.session, retryable: false },
    );
    const failed = fail(next, gaveUp);
    return { state: failed.state, effects: [...before, ...failed.effects] };
  }
  return {
    state: { ...next, phase: "retrying" },
    effects: [...before, { type: "scheduleRetry", attempt: retries }],
  };
}

/** Ends the attachment for good because of `error`: onError, iterators throw it, the client forgets the handle. */
function fail(state: SessionState, error: ThreadlineError): SessionStep {
  if (state.phase === "detached") return unchanged(state);
  const before: SessionEffect[] = [];
  let next = state;
  if (error.code === ErrorCode.INSUFFICIENT_STATE) {
    // The stored position can never be resumed; forget it so a plain attach() does not repeat the failure.
    next = { ...state, position: undefined, stateHeld: false };
    before.push({ type: "forgetPosition" });
  }
  const ended = end(next, error, before);
  return { state: ended.state, effects: [...ended.effects, { type: "emitError", error }, { type: "release" }] };
}

function end(state: SessionState, error: ThreadlineError | undefined, before: SessionEffect[]): SessionStep {
  return {
    state: { ...state, phase: "detached", synced: false, generation: state.generation + 1, firstAttachSettled: true },
    effects: [...before, { type: "cancelAck" }, { type: "end", error, rejectFirstAttach: !state.firstAttachSettled }],
  };
}
