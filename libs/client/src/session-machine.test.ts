// Over 400 lines: one table of the session machine's transitions (a row per state × input).
import { ErrorCode, resolveBackoff, type SessionEvent, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import {
  initialSessionState,
  reduceSession,
  resumeFrom,
  type SessionEffect,
  type SessionInput,
  type SessionState,
} from "./session-machine.ts";

const context = { session: "s1", reattachPolicy: resolveBackoff({ maxAttempts: 3 }) };

const objectAt = (version: number) => ({ value: { n: version }, version, updatedBy: { kind: "user", id: "u1" } });
const ev = (id: string): SessionEvent => ({ id, type: "note", data: {}, ts: 0 }) as unknown as SessionEvent;
const err = (code: ErrorCode, retryable: boolean) => new ThreadlineError(code, code, { session: "s1", retryable });
const INSUFFICIENT = err(ErrorCode.INSUFFICIENT_STATE, false);
const FORBIDDEN = err(ErrorCode.FORBIDDEN, false);
const UNAVAILABLE = err(ErrorCode.UNAVAILABLE, true);
const CLOSED = err(ErrorCode.CLOSED, true);
const TIMEOUT = err(ErrorCode.TIMEOUT, true);

const base: SessionState = initialSessionState;
const pending: SessionState = { ...base, phase: "pending", initialFrom: "start" };
const attaching: SessionState = { ...pending, phase: "attaching", generation: 1 };
const attached: SessionState = {
  ...attaching,
  phase: "attached",
  attachedAt: { epoch: "e1", from: 0 },
  firstAttachSettled: true,
  // Attached from "start": the handle folds the state from the empty one.
  stateHeld: true,
};
const applied: SessionState = { ...attached, position: { epoch: "e1", seq: 5, id: "ev-5" } };
const synced: SessionState = { ...applied, synced: true };
const retrying: SessionState = { ...applied, phase: "retrying", retries: 1 };
const detached: SessionState = { ...applied, phase: "detached", generation: 2 };

const end = (error: ThreadlineError | undefined, rejectFirstAttach = false): SessionEffect[] => [
  { type: "cancelAck" },
  { type: "end", error, rejectFirstAttach },
];
const fail = (error: ThreadlineError, rejectFirstAttach = false): SessionEffect[] => [
  ...end(error, rejectFirstAttach),
  { type: "emitError", error },
  { type: "release" },
];

interface Row {
  name: string;
  state: SessionState;
  input: SessionInput;
  next: Partial<SessionState>;
  effects: SessionEffect[];
}

// Each row: a state, an input, what the next state must contain, and exactly the effects, in order.
const rows: Row[] = [
  // ---- starting and the first attach
  {
    name: "start with an app position waits for a socket",
    state: base,
    input: { type: "start", from: "start", fromStorage: false },
    next: { phase: "pending", initialFrom: "start", position: undefined },
    effects: [],
  },
  {
    name: "start from storage: the stored position counts as applied",
    state: base,
    input: { type: "start", from: { epoch: "e1", seq: 7, id: "ev-7" }, fromStorage: true },
    next: { phase: "pending", position: { epoch: "e1", seq: 7, id: "ev-7" } },
    effects: [{ type: "positionStored", seq: 7 }],
  },
  {
    name: "a socket while pending sends attach from the app's choice",
    state: pending,
    input: { type: "connectionReady" },
    next: { phase: "attaching", generation: 1, synced: false },
    effects: [{ type: "sendAttach", from: "start", generation: 1, state: false }],
  },
  {
    name: "a socket while attached changes nothing",
    state: applied,
    input: { type: "connectionReady" },
    next: applied,
    effects: [],
  },
  {
    name: "attached settles attach() once",
    state: { ...attaching, firstAttachSettled: false },
    input: { type: "attached", generation: 1, epoch: "e1", from: 3 },
    next: { phase: "attached", attachedAt: { epoch: "e1", from: 3 }, firstAttachSettled: true },
    effects: [{ type: "attached", from: 3, epochChanged: false }, { type: "resolveFirstAttach" }],
  },
  {
    name: "attached to an older attach is ignored",
    state: { ...attaching, generation: 2 },
    input: { type: "attached", generation: 1, epoch: "e1", from: 0 },
    next: { phase: "attaching" },
    effects: [],
  },
  {
    name: "re-attached in a new epoch forgets the old epoch's position",
    state: { ...applied, phase: "attaching", generation: 4 },
    input: { type: "attached", generation: 4, epoch: "e2", from: 0 },
    next: { phase: "attached", position: undefined, attachedAt: { epoch: "e2", from: 0 }, stateHeld: false },
    effects: [{ type: "attached", from: 0, epochChanged: true }, { type: "resetState" }],
  },
  {
    name: "a malformed `from` counts as 0",
    state: attaching,
    input: { type: "attached", generation: 1, epoch: "e1", from: "x" },
    next: { attachedAt: { epoch: "e1", from: 0 } },
    effects: [{ type: "attached", from: 0, epochChanged: false }, { type: "resolveFirstAttach" }],
  },
  // ---- shared state (PROTOCOL.md §19.5): when an attach asks for a snapshot
  {
    name: "a first attach from the cursor asks for a state snapshot",
    state: { ...pending, initialFrom: undefined },
    input: { type: "connectionReady" },
    next: { phase: "attaching", awaitingState: true },
    effects: [{ type: "sendAttach", from: undefined, generation: 1, state: true }],
  },
  {
    name: 'a first attach from "now" asks for a state snapshot',
    state: { ...pending, initialFrom: "now" },
    input: { type: "connectionReady" },
    next: { awaitingState: true },
    effects: [{ type: "sendAttach", from: "now", generation: 1, state: true }],
  },
  {
    name: "a first attach from a stored position asks for one (storage keeps positions, not state)",
    state: { ...pending, initialFrom: { epoch: "e1", seq: 7 }, position: { epoch: "e1", seq: 7 } },
    input: { type: "connectionReady" },
    next: { awaitingState: true },
    effects: [{ type: "sendAttach", from: { epoch: "e1", seq: 7 }, generation: 1, state: true }],
  },
  {
    name: 'a first attach from "start" needs none: it folds the whole history',
    state: pending,
    input: { type: "connectionReady" },
    next: { awaitingState: false },
    effects: [{ type: "sendAttach", from: "start", generation: 1, state: false }],
  },
  {
    name: 'attached to an attach from "start": the state is held (folded from empty)',
    state: { ...attaching, firstAttachSettled: false },
    input: { type: "attached", generation: 1, epoch: "e1", from: 0 },
    next: { stateHeld: true, firstAttachSettled: true },
    effects: [{ type: "attached", from: 0, epochChanged: false }, { type: "resolveFirstAttach" }],
  },
  {
    name: "attached with a snapshot coming: attach() waits for it",
    state: { ...attaching, initialFrom: "now", awaitingState: true, firstAttachSettled: false },
    input: { type: "attached", generation: 1, epoch: "e1", from: 9 },
    next: { phase: "attached", stateHeld: false, awaitingState: true, firstAttachSettled: false },
    effects: [{ type: "attached", from: 9, epochChanged: false }],
  },
  {
    name: "the snapshot replaces the state and settles attach()",
    state: {
      ...attached,
      attachedAt: { epoch: "e1", from: 9 },
      stateHeld: false,
      awaitingState: true,
      firstAttachSettled: false,
    },
    input: { type: "stateSnapshot", seq: 9, objects: { cart: objectAt(4) } },
    next: { stateHeld: true, awaitingState: false, firstAttachSettled: true },
    effects: [{ type: "replaceState", seq: 9, objects: { cart: objectAt(4) } }, { type: "resolveFirstAttach" }],
  },
  {
    name: "a snapshot nobody asked for is ignored",
    state: synced,
    input: { type: "stateSnapshot", seq: 5, objects: {} },
    next: synced,
    effects: [],
  },
  {
    name: "a malformed snapshot is ignored (attach() keeps waiting)",
    state: { ...attached, stateHeld: false, awaitingState: true, firstAttachSettled: false },
    input: { type: "stateSnapshot", seq: 3, objects: [] },
    next: { awaitingState: true, firstAttachSettled: false },
    effects: [],
  },
  {
    name: "an event instead of the snapshot (a gateway without §19): attach() resolves, state not held",
    state: { ...attached, stateHeld: false, awaitingState: true, firstAttachSettled: false },
    input: { type: "event", seq: 1, event: ev("ev-1") },
    next: { stateHeld: false, awaitingState: false, firstAttachSettled: true },
    effects: [
      { type: "resolveFirstAttach" },
      { type: "deliverEvent", position: { epoch: "e1", seq: 1, id: "ev-1" }, event: ev("ev-1") },
    ],
  },
  {
    name: "a reconnect with the state held resumes without a snapshot",
    state: { ...applied, phase: "pending" },
    input: { type: "connectionReady" },
    next: { awaitingState: false },
    effects: [{ type: "sendAttach", from: { epoch: "e1", seq: 5, id: "ev-5" }, generation: 2, state: false }],
  },
  {
    name: "a reconnect before the snapshot arrived asks again",
    state: {
      ...attached,
      phase: "pending",
      initialFrom: "now",
      stateHeld: false,
      awaitingState: true,
      attachedAt: { epoch: "e1", from: 9 },
    },
    input: { type: "connectionReady" },
    next: { awaitingState: true },
    effects: [{ type: "sendAttach", from: { epoch: "e1", seq: 9 }, generation: 2, state: true }],
  },
  {
    name: "INSUFFICIENT_STATE drops the state with the position (a new attach asks for a snapshot)",
    state: synced,
    input: { type: "sessionError", error: INSUFFICIENT },
    next: { phase: "detached", position: undefined, stateHeld: false },
    effects: [{ type: "forgetPosition" }, ...fail(INSUFFICIENT)],
  },
  // ---- events and sync
  {
    name: "a new seq is delivered at its position, with the event's id",
    state: applied,
    input: { type: "event", seq: 6, event: ev("ev-6") },
    next: { position: { epoch: "e1", seq: 6, id: "ev-6" } },
    effects: [{ type: "deliverEvent", position: { epoch: "e1", seq: 6, id: "ev-6" }, event: ev("ev-6") }],
  },
  {
    name: "a seq at or below the last applied one is a replay: dropped",
    state: applied,
    input: { type: "event", seq: 5, event: ev("ev-5") },
    next: applied,
    effects: [],
  },
  {
    name: "with nothing applied, a seq at the attachment's start is dropped",
    state: { ...attached, attachedAt: { epoch: "e1", from: 9 } },
    input: { type: "event", seq: 9, event: ev("ev-9") },
    next: { position: undefined },
    effects: [],
  },
  {
    name: "an event while not attached is ignored",
    state: { ...applied, phase: "pending" },
    input: { type: "event", seq: 6, event: ev("ev-6") },
    next: { position: applied.position },
    effects: [],
  },
  {
    name: "synced marks live and resets the retry count",
    state: { ...applied, retries: 2 },
    input: { type: "synced", seq: 5 },
    next: { synced: true, retries: 0 },
    effects: [{ type: "synced", seq: 5 }],
  },
  {
    name: "synced without a seq reports the applied position",
    state: applied,
    input: { type: "synced", seq: undefined },
    next: { synced: true },
    effects: [{ type: "synced", seq: 5 }],
  },
  // ---- socket loss and attach failures
  {
    name: "socket lost while attached: re-attach on the next socket",
    state: synced,
    input: { type: "connectionLost" },
    next: { phase: "pending", synced: false },
    effects: [{ type: "cancelAck" }],
  },
  {
    name: "socket lost while retrying keeps waiting for the timer",
    state: retrying,
    input: { type: "connectionLost" },
    next: { phase: "retrying" },
    effects: [{ type: "cancelAck" }],
  },
  {
    name: "then a socket resumes from the last applied position",
    state: { ...applied, phase: "pending" },
    input: { type: "connectionReady" },
    next: { phase: "attaching", generation: 2 },
    effects: [{ type: "sendAttach", from: { epoch: "e1", seq: 5, id: "ev-5" }, generation: 2, state: false }],
  },
  {
    name: "nothing applied: resume from the last attachment's start",
    state: { ...attached, phase: "pending", attachedAt: { epoch: "e1", from: 42 } },
    input: { type: "connectionReady" },
    next: { phase: "attaching" },
    effects: [{ type: "sendAttach", from: { epoch: "e1", seq: 42 }, generation: 2, state: false }],
  },
  {
    name: "attach lost with its socket: wait for the next one",
    state: attaching,
    input: { type: "attachFailed", generation: 1, error: CLOSED },
    next: { phase: "pending" },
    effects: [],
  },
  {
    name: "attach timed out: drop the socket (re-sending could race the first attach)",
    state: attaching,
    input: { type: "attachFailed", generation: 1, error: TIMEOUT },
    next: { phase: "pending" },
    effects: [{ type: "dropConnection", error: TIMEOUT }],
  },
  {
    name: "a retryable refusal is reported and retried with backoff attempt 1",
    state: attaching,
    input: { type: "attachFailed", generation: 1, error: UNAVAILABLE },
    next: { phase: "retrying", retries: 1 },
    effects: [
      { type: "emitError", error: UNAVAILABLE },
      { type: "scheduleRetry", attempt: 1 },
    ],
  },
  {
    name: "a terminal refusal of the first attach rejects attach()",
    state: attaching,
    input: { type: "attachFailed", generation: 1, error: FORBIDDEN },
    next: { phase: "detached", generation: 2 },
    effects: fail(FORBIDDEN, true),
  },
  {
    name: "INSUFFICIENT_STATE forgets the stored position",
    state: { ...applied, phase: "attaching", generation: 3 },
    input: { type: "attachFailed", generation: 3, error: INSUFFICIENT },
    next: { phase: "detached", position: undefined },
    effects: [{ type: "forgetPosition" }, ...fail(INSUFFICIENT)],
  },
  {
    name: "a failure of an older attach is ignored",
    state: { ...attaching, generation: 2 },
    input: { type: "attachFailed", generation: 1, error: FORBIDDEN },
    next: { phase: "attaching" },
    effects: [],
  },
  // ---- the gateway ends an attachment; retries
  {
    name: "gateway-ended retryably: report, back off (attempt = retries + 1)",
    state: { ...synced, retries: 1 },
    input: { type: "gatewayDetached", error: UNAVAILABLE },
    next: { phase: "retrying", retries: 2, synced: false },
    effects: [
      { type: "emitError", error: UNAVAILABLE },
      { type: "scheduleRetry", attempt: 2 },
    ],
  },
  {
    name: "gateway-ended with INSUFFICIENT_STATE is terminal even when marked retryable",
    state: synced,
    input: { type: "gatewayDetached", error: err(ErrorCode.INSUFFICIENT_STATE, true) },
    next: { phase: "detached", position: undefined },
    effects: [{ type: "forgetPosition" }, ...fail(err(ErrorCode.INSUFFICIENT_STATE, true))],
  },
  {
    name: "gateway-ended while not attached is ignored",
    state: retrying,
    input: { type: "gatewayDetached", error: UNAVAILABLE },
    next: retrying,
    effects: [],
  },
  {
    name: "the retry timer with a socket re-attaches from the position",
    state: retrying,
    input: { type: "retryTimerFired", ready: true },
    next: { phase: "attaching", generation: 2 },
    effects: [{ type: "sendAttach", from: { epoch: "e1", seq: 5, id: "ev-5" }, generation: 2, state: false }],
  },
  {
    name: "the retry timer without a socket waits for one",
    state: retrying,
    input: { type: "retryTimerFired", ready: false },
    next: { phase: "pending" },
    effects: [],
  },
  {
    name: "a stale retry timer is ignored",
    state: detached,
    input: { type: "retryTimerFired", ready: true },
    next: detached,
    effects: [],
  },
  // ---- unsolicited errors
  {
    name: "a refused ack is informational",
    state: synced,
    input: { type: "sessionError", error: err(ErrorCode.INVALID_POSITION, false) },
    next: synced,
    effects: [{ type: "emitError", error: err(ErrorCode.INVALID_POSITION, false) }],
  },
  {
    name: "an unsolicited INSUFFICIENT_STATE ends the handle",
    state: synced,
    input: { type: "sessionError", error: INSUFFICIENT },
    next: { phase: "detached", position: undefined },
    effects: [{ type: "forgetPosition" }, ...fail(INSUFFICIENT)],
  },
  {
    name: "errors after the end are ignored",
    state: detached,
    input: { type: "sessionError", error: INSUFFICIENT },
    next: detached,
    effects: [],
  },
  // ---- ending
  {
    name: "detach while attached flushes the ack and tells the gateway after the attach",
    state: synced,
    input: { type: "detach" },
    next: { phase: "detached", synced: false, generation: 2 },
    effects: [{ type: "flushAck" }, ...end(undefined), { type: "sendDetach", awaitAttach: true }],
  },
  {
    name: "detach while disconnected only ends locally",
    state: { ...applied, phase: "pending" },
    input: { type: "detach" },
    next: { phase: "detached" },
    effects: [...end(undefined), { type: "sendDetach", awaitAttach: false }],
  },
  {
    name: "detach before the first attach rejects attach()",
    state: { ...attaching, firstAttachSettled: false },
    input: { type: "detach" },
    next: { phase: "detached", firstAttachSettled: true },
    effects: [...end(undefined, true), { type: "sendDetach", awaitAttach: true }],
  },
  {
    name: "detach twice is a no-op",
    state: detached,
    input: { type: "detach" },
    next: detached,
    effects: [],
  },
  {
    name: "the client closing with an error ends the handle with it",
    state: synced,
    input: { type: "clientClosed", error: FORBIDDEN },
    next: { phase: "detached" },
    effects: end(FORBIDDEN),
  },
];

describe("reduceSession", () => {
  it.each(rows.map((row) => [row.name, row] as const))("%s", (_, row) => {
    const { state, effects } = reduceSession(row.state, row.input, context);
    expect(state).toMatchObject(row.next);
    expect(effects).toEqual(row.effects);
  });

  it("gives up after maxAttempts re-attaches with a terminal error naming the cause", () => {
    let state: SessionState = { ...synced, retries: 3 };
    const step = reduceSession(state, { type: "gatewayDetached", error: UNAVAILABLE }, context);
    state = step.state;
    expect(state.phase).toBe("detached");
    const [emitted, , ended] = step.effects;
    expect(emitted).toEqual({ type: "emitError", error: UNAVAILABLE });
    expect(ended).toMatchObject({
      type: "end",
      error: {
        code: ErrorCode.UNAVAILABLE,
        retryable: false,
        message: expect.stringMatching(/gave up re-attaching s1 after 3 attempts/),
      },
    });
    expect(step.effects.map((e) => e.type)).toEqual(["emitError", "cancelAck", "end", "emitError", "release"]);
  });

  it("is pure: the input state is not modified", () => {
    const before = structuredClone(applied);
    reduceSession(applied, { type: "event", seq: 6, event: ev("ev-6") }, context);
    reduceSession(applied, { type: "detach" }, context);
    expect(applied).toEqual(before);
  });

  it("resumeFrom prefers the applied position, then the last attachment's start, then the app's choice", () => {
    expect(resumeFrom(applied)).toEqual({ epoch: "e1", seq: 5, id: "ev-5" });
    expect(resumeFrom({ ...attached, attachedAt: { epoch: "e1", from: 4 } })).toEqual({ epoch: "e1", seq: 4 });
    expect(resumeFrom(pending)).toBe("start");
  });
});
