import {
  type ApprovalRequestData,
  type Approver,
  type CallClosedData,
  type CallClosedReason,
  type ControlCallEntry,
  ErrorCode,
  newId,
  type Participant,
  ThreadlineError,
  type ToolCallData,
  TurnEventType,
} from "@threadline/protocol";
import type { ControlState, SubjectRecord } from "@threadline/store";
import type { RunningTurn } from "./running-turn.ts";

/** Default and bounds of a call's `timeoutMs`. */
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
export const MAX_CALL_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/**
 * After a call timed out locally but the gateway had already marked it
 * `answered`, how long to wait for the answer event to arrive before
 * giving up with `TIMEOUT` anyway.
 */
const ANSWER_GRACE_MS = 5000;

/** A client's answer to `callClientTool`: exactly one of `result` / `error`, and who answered. */
export type ToolAnswer = ({ result: unknown; error?: undefined } | { error: string; result?: undefined }) & {
  from: Participant;
  /** Stream seq of the `tool.result` event. */
  seq: number;
};

/** A human's answer to `requestApproval`. */
export interface ApprovalAnswer {
  approved: boolean;
  reason?: string;
  from: Participant;
  seq: number;
}

export interface CallOptions {
  /** How long clients have to answer. Default 60000; at most 24 h. */
  timeoutMs?: number;
}

export interface ApprovalOptions extends CallOptions {
  details?: unknown;
  /** Who may answer. Default `["user", "operator"]`. */
  approvers?: Approver[];
}

/** What a client call needs of its turn. */
export interface CallHost {
  readonly session: string;
  readonly running: RunningTurn;
  readonly control: ControlState;
  publish(event: { type: string; ref: string; data: unknown }): Promise<unknown>;
}

/**
 * One client call (tool call or approval request), following PROTOCOL.md
 * §17: write `<session>.call.<id>` (`pending`, with the deadline) before
 * publishing the request — so a gateway can check every answer against it
 * — then wait for the first answer the gateway accepted (it CASes the key to
 * `answered` before storing it; later answers are refused at the gateway).
 * On timeout or cancel the SDK CASes the key to `closed` (when an answer won
 * that race, the answer is taken instead) and publishes `call.closed` so UIs
 * drop the prompt; an answered call is closed with reason `answered`.
 *
 * Rejects with `ThreadlineError`: `TIMEOUT` when nobody answered in time,
 * the turn's abort reason (`TURN_ENDED`) when it was cancelled, or the
 * control/publish failure.
 */
export async function clientCall(
  host: CallHost,
  request:
    | { kind: "tool"; name: string; args: unknown }
    | { kind: "approval"; action: string; details?: unknown; approvers: Approver[] },
  timeoutMs: number,
): Promise<SubjectRecord> {
  const { running, control, session } = host;
  running.signal.throwIfAborted();
  const call = newId();
  const deadline = Date.now() + timeoutMs;
  let answer: SubjectRecord | undefined;
  let answered: (() => void) | undefined;
  const stopWaiting = running.awaitAnswer(call, (record) => {
    answer ??= record;
    answered?.();
  });
  try {
    const entry: ControlCallEntry = {
      kind: request.kind,
      turn: running.turn,
      status: "pending",
      deadline,
      ...(request.kind === "approval" ? { approvers: request.approvers } : {}),
    };
    const revision = await control.createCall(session, call, entry);
    if (revision === undefined) throw new ThreadlineError(ErrorCode.INTERNAL, `call id ${call} already exists`);
    if (request.kind === "tool") {
      const data: ToolCallData = { call, name: request.name, args: request.args, timeoutMs };
      await host.publish({ type: TurnEventType.TOOL_CALL, ref: call, data });
    } else {
      const data: ApprovalRequestData = {
        call,
        action: request.action,
        approvers: request.approvers,
        timeoutMs,
        ...(request.details === undefined ? {} : { details: request.details }),
      };
      await host.publish({ type: TurnEventType.APPROVAL_REQUEST, ref: call, data });
    }

    const outcome = await new Promise<"answered" | "timeout" | "cancelled">((resolve) => {
      if (answer) return resolve("answered");
      const finish = (result: "answered" | "timeout" | "cancelled") => {
        clearTimeout(timer);
        running.signal.removeEventListener("abort", onAbort);
        answered = undefined;
        resolve(result);
      };
      const timer = setTimeout(() => finish("timeout"), Math.max(0, deadline - Date.now()));
      const onAbort = () => finish("cancelled");
      if (running.signal.aborted) return finish("cancelled");
      running.signal.addEventListener("abort", onAbort, { once: true });
      answered = () => finish("answered");
    });

    if (outcome !== "answered") {
      const closed = await closeCall(control, session, call, entry, revision, outcome);
      if (!closed) {
        // The gateway accepted an answer first: it is stored and on its way to us.
        await waitForAnswer(
          () => answer,
          (wake) => (answered = wake),
          ANSWER_GRACE_MS,
        );
      }
    }
    if (answer) {
      await publishClosed(host, call, "answered");
      return answer;
    }
    await publishClosed(host, call, outcome === "cancelled" ? "cancelled" : "timeout");
    if (outcome === "cancelled") throw running.signal.reason;
    throw new ThreadlineError(
      ErrorCode.TIMEOUT,
      `${request.kind === "tool" ? `client tool ${request.name}` : `approval ${request.action}`} (call ${call}) was not answered within ${timeoutMs} ms`,
      { session, retryable: false },
    );
  } finally {
    stopWaiting();
  }
}

/** CAS `pending` → `closed`; false when the call was answered in the meantime. */
async function closeCall(
  control: ControlState,
  session: string,
  call: string,
  entry: ControlCallEntry,
  revision: number,
  reason: CallClosedReason,
): Promise<boolean> {
  let current: { value: ControlCallEntry; revision: number } | undefined = { value: entry, revision };
  for (;;) {
    if (current.value.status === "answered") return false;
    if (current.value.status === "closed") return true;
    const next: ControlCallEntry = { ...current.value, status: "closed", reason };
    if ((await control.casCall(session, call, next, current.revision)) !== undefined) return true;
    current = await control.getCall(session, call);
    if (!current) return true;
  }
}

/**
 * Closes a call its (dead) worker left open, for the worker taking the turn
 * over (PROTOCOL.md §17.6): CAS the key to `closed` with reason
 * `interrupted` and store `call.closed`, so clients drop the prompt and a
 * late answer is refused with `CALL_CLOSED`. When a client's answer won the
 * race, the call is closed as `answered` (the answer stays in the session;
 * nobody waits for it). A call whose key is gone is closed `interrupted`.
 */
export async function closeOrphanedCall(host: CallHost, call: string): Promise<CallClosedReason> {
  const { control, session } = host;
  const current = await control.getCall(session, call);
  const closed = !current || (await closeCall(control, session, call, current.value, current.revision, "interrupted"));
  const reason: CallClosedReason = closed ? "interrupted" : "answered";
  await publishClosed(host, call, reason);
  return reason;
}

async function waitForAnswer(
  have: () => SubjectRecord | undefined,
  onAnswer: (wake: () => void) => void,
  graceMs: number,
): Promise<void> {
  if (have()) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, graceMs);
    onAnswer(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function publishClosed(host: CallHost, call: string, reason: CallClosedReason): Promise<void> {
  const data: CallClosedData = { call, reason };
  await host.publish({ type: TurnEventType.CALL_CLOSED, ref: call, data });
}

/** Reads a `tool.result` record into a {@link ToolAnswer}. */
export function toolAnswer(record: SubjectRecord): ToolAnswer {
  const data = (record.event.data ?? {}) as { result?: unknown; error?: unknown };
  const base = { from: record.event.from, seq: record.seq };
  return typeof data.error === "string" ? { ...base, error: data.error } : { ...base, result: data.result };
}

/** Reads an `approval` record into an {@link ApprovalAnswer}. */
export function approvalAnswer(record: SubjectRecord): ApprovalAnswer {
  const data = (record.event.data ?? {}) as { approved?: unknown; reason?: unknown };
  return {
    approved: data.approved === true,
    ...(typeof data.reason === "string" ? { reason: data.reason } : {}),
    from: record.event.from,
    seq: record.seq,
  };
}

/** Validates a call timeout. */
export function callTimeout(timeoutMs: number | undefined): number {
  const value = timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  if (!Number.isInteger(value) || value < 1 || value > MAX_CALL_TIMEOUT_MS) {
    throw new RangeError(`timeoutMs must be an integer in [1, ${MAX_CALL_TIMEOUT_MS}], got ${String(timeoutMs)}`);
  }
  return value;
}
