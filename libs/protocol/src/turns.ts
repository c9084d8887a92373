// Over 400 lines on purpose: the turn model in one place (events, control-bucket entries and their validation, the client view fold) — the contract agents, gateways and clients share.
import type { Participant } from "./envelope.ts";
import { isSessionId } from "./ids.ts";

/**
 * Turns and live control (PROTOCOL.md §17). A turn is one unit of agent work;
 * clients steer it with control events in the `ctl` lane, agents report it
 * with lifecycle events in the `out` lane, and the facts several processes
 * must agree on (turn status, who answered a call, who owns the session) live
 * in the KV bucket `threadline-control`, written with create/CAS.
 */
export const DEFAULT_CONTROL_BUCKET = "threadline-control";

/** Turn ids, call ids and input event ids become KV key tokens: `[A-Za-z0-9_-]{1,64}`. */
export const MAX_TURN_ID_LENGTH = 64;
/** Deepest sub-agent nesting: a `turn.request` may list at most this many ancestors. */
export const MAX_TURN_DEPTH = 32;
/** Longest `reason` of cancel / approval / handoff / turn.end, in characters. */
export const MAX_CONTROL_REASON_LENGTH = 1024;

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A turn id or call id (also required of `input` event ids, which become turn ids). */
export function isTurnId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_TURN_ID_LENGTH && TOKEN.test(value);
}

/** Call ids share the turn id grammar. */
export const isCallId: (value: unknown) => value is string = isTurnId;

/** The client event that starts a turn for an entry pool; its event id is the turn id. */
export const INPUT_EVENT_TYPE = "input";

/** Events agents publish about turns (lane `out`, except `turn.request` in lane `in`). */
export const TurnEventType = {
  START: "turn.start",
  END: "turn.end",
  RESUMED: "turn.resumed",
  /** A sub-agent / delegated turn, published by an agent into the `in` lane. */
  REQUEST: "turn.request",
  PROGRESS: "progress",
  TOOL_CALL: "tool.call",
  APPROVAL_REQUEST: "approval.request",
  CALL_CLOSED: "call.closed",
} as const;
export type TurnEventType = (typeof TurnEventType)[keyof typeof TurnEventType];

/** Control events clients publish (lane `ctl`; the gateway stamps `from`). */
export const ControlEventType = {
  CANCEL: "cancel",
  STEER: "steer",
  TOOL_RESULT: "tool.result",
  APPROVAL: "approval",
  HANDOFF: "handoff",
} as const;
export type ControlEventType = (typeof ControlEventType)[keyof typeof ControlEventType];

/**
 * Status of a turn in the control bucket: `pending` (input stored, no worker
 * yet), `running`, then one final status, which `turn.end` also carries.
 */
export const TurnStatus = {
  PENDING: "pending",
  RUNNING: "running",
  COMPLETED: "completed",
  CANCELLED: "cancelled",
  FAILED: "failed",
  INTERRUPTED: "interrupted",
} as const;
export type TurnStatus = (typeof TurnStatus)[keyof typeof TurnStatus];
/** The final statuses (`turn.end`). */
export type TurnEndStatus = "completed" | "cancelled" | "failed" | "interrupted";
const TURN_STATUSES: ReadonlySet<string> = new Set(Object.values(TurnStatus));
const FINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "cancelled", "failed", "interrupted"]);

export function isTurnStatus(value: unknown): value is TurnStatus {
  return typeof value === "string" && TURN_STATUSES.has(value);
}

/** True for the statuses after which a turn takes no more control events. */
export function isFinalTurnStatus(value: unknown): value is TurnEndStatus {
  return typeof value === "string" && FINAL_STATUSES.has(value);
}

/** Participant kinds that may answer an approval request. */
export type Approver = "user" | "operator";
const APPROVERS: ReadonlySet<string> = new Set(["user", "operator"]);

export type ProgressStatus = "running" | "done" | "failed" | "skipped";
const PROGRESS_STATUSES: ReadonlySet<string> = new Set(["running", "done", "failed", "skipped"]);

/**
 * Why a call takes no more answers: `interrupted` = its worker died and the
 * worker that took the turn over closed it (the re-run handler asks anew).
 */
export type CallClosedReason = "answered" | "timeout" | "cancelled" | "interrupted";
const CALL_CLOSED_REASONS: ReadonlySet<string> = new Set(["answered", "timeout", "cancelled", "interrupted"]);

export type TurnResumedReason = "crashed" | "lease-expired";

export const HandoffAction = { REQUEST: "request", TAKE: "take", RELEASE: "release" } as const;
export type HandoffAction = (typeof HandoffAction)[keyof typeof HandoffAction];
const HANDOFF_ACTIONS: ReadonlySet<string> = new Set(Object.values(HandoffAction));

// ---- agent-published data -------------------------------------------------

/** `turn.start` — envelope `turn` = turn id, `ref` = the input / turn.request event id. */
export interface TurnStartData {
  /** Pool name. */
  agent: string;
  /** The worker id running the turn (one `serveAgent` of the pool, not the agent's participant id; §17.2). */
  worker: string;
  parent?: string;
  ancestors?: string[];
}

/** `turn.end` — the turn's final status. */
export interface TurnEndData {
  status: TurnEndStatus;
  reason?: string;
  error?: string;
}

/** `turn.resumed` — another worker took the turn over. */
export interface TurnResumedData {
  agent: string;
  worker: string;
  previousWorker: string;
  reason: TurnResumedReason;
  /** 1 for the first takeover. */
  attempt: number;
}

/** `progress` — folded by (turn, step); a later event for the same step replaces the earlier one. */
export interface ProgressData {
  /** Stable id of the step within the turn. */
  step: string;
  label?: string;
  status: ProgressStatus;
  detail?: string;
}

/** `tool.call` — envelope `ref` = call id; addressed to clients, answered with `tool.result`. */
export interface ToolCallData {
  call: string;
  name: string;
  args: unknown;
  timeoutMs: number;
}

/** `approval.request` — envelope `ref` = call id; answered with `approval` by a participant of an `approvers` kind. */
export interface ApprovalRequestData {
  call: string;
  action: string;
  details?: unknown;
  approvers: Approver[];
  timeoutMs: number;
}

/** `call.closed` — the call takes no more answers; UIs drop its prompt. */
export interface CallClosedData {
  call: string;
  reason: CallClosedReason;
}

/** `turn.request` (lane `in`) — envelope `id` = `turn` = the new turn id. */
export interface TurnRequestData {
  /** The target pool name. */
  agent: string;
  parent: string;
  /** Root first, parent last. */
  ancestors: string[];
  input: { text?: string; [key: string]: unknown };
}

// ---- client-published data ------------------------------------------------

/** `cancel` — envelope `turn` = the turn to stop (its descendants stop too). */
export interface CancelData {
  reason?: string;
}

/** `steer` — envelope `turn` = the running turn to redirect. */
export interface SteerData {
  text: string;
}

/** `tool.result` — envelope `ref` = call id. Exactly one of `result` / `error`. */
export type ToolResultData = { result: unknown; error?: never } | { error: string; result?: never };

/** `approval` — envelope `ref` = call id. */
export interface ApprovalData {
  approved: boolean;
  reason?: string;
}

/** `handoff` — users may only `request`; `take` / `release` are operator-only. */
export interface HandoffData {
  action: HandoffAction;
  reason?: string;
}

// ---- control bucket -------------------------------------------------------

/** `<session>.turn.<turnId>` */
export interface ControlTurnEntry {
  status: TurnStatus;
  agent?: string;
  worker?: string;
  parent?: string;
  ancestors?: string[];
  /** Stream seq of the input event that started the turn (when known). */
  inputSeq?: number;
  /** ms since the Unix epoch. */
  updatedAt: number;
  /** Set by the gateway when a `cancel` ended the turn while it was `pending`: that cancel event's id. */
  cancelEvent?: string;
  /**
   * `running` turns: ms since the Unix epoch until which the worker vouches that it runs the turn. The
   * worker renews it while the turn runs; past it (plus {@link TURN_LEASE_GRACE_MS}) the worker is gone
   * and a live worker of the pool ends the turn (§17.6 "Orphaned turns").
   */
  leaseUntil?: number;
}

export type ControlCallStatus = "pending" | "answered" | "closed";

/** `<session>.call.<callId>` */
export interface ControlCallEntry {
  kind: "tool" | "approval";
  turn: string;
  status: ControlCallStatus;
  /** Approval calls: who may answer. Missing = any user or operator. */
  approvers?: Approver[];
  /** ms since the Unix epoch after which the agent closes the call (`timeout`). */
  deadline: number;
  /** Set by the gateway when it marks the call `answered`. */
  answeredBy?: Participant;
  answeredAt?: number;
  /** The id of the accepted `tool.result` / `approval` event (a retry with this id is stored, not refused). */
  answer?: string;
  /** Set when `closed`. */
  reason?: CallClosedReason;
}

/** `<session>.owner` — `owner: null` (or no key) = agents own the session. */
export interface ControlOwnerEntry {
  owner: { kind: "operator"; id: string } | null;
  /** Who wrote the entry (the operator's device included). */
  by: Participant;
  /** ms since the Unix epoch. */
  since: number;
  reason?: string;
}

export type ControlKey =
  | { session: string; kind: "turn"; turn: string }
  | { session: string; kind: "call"; call: string }
  | { session: string; kind: "owner" };

function checkSession(session: string): void {
  if (!isSessionId(session)) throw new TypeError(`invalid session id: ${JSON.stringify(session)}`);
}

/** `<session>.turn.<turn>`. Throws TypeError on invalid tokens. */
export function controlTurnKey(session: string, turn: string): string {
  checkSession(session);
  if (!isTurnId(turn)) throw new TypeError(`invalid turn id: ${JSON.stringify(turn)}`);
  return `${session}.turn.${turn}`;
}

/** `<session>.call.<call>`. Throws TypeError on invalid tokens. */
export function controlCallKey(session: string, call: string): string {
  checkSession(session);
  if (!isCallId(call)) throw new TypeError(`invalid call id: ${JSON.stringify(call)}`);
  return `${session}.call.${call}`;
}

/** `<session>.owner`. Throws TypeError on an invalid session id. */
export function controlOwnerKey(session: string): string {
  checkSession(session);
  return `${session}.owner`;
}

/** Parses a control bucket key; undefined when it is not one. */
export function parseControlKey(key: string): ControlKey | undefined {
  const parts = key.split(".");
  const session = parts[0];
  if (!isSessionId(session)) return undefined;
  if (parts.length === 2 && parts[1] === "owner") return { session, kind: "owner" };
  if (parts.length !== 3) return undefined;
  const id = parts[2];
  if (parts[1] === "turn" && isTurnId(id)) return { session, kind: "turn", turn: id };
  if (parts[1] === "call" && isCallId(id)) return { session, kind: "call", call: id };
  return undefined;
}

// ---- validators -----------------------------------------------------------

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function reasonProblem(value: unknown, field = "reason"): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length > MAX_CONTROL_REASON_LENGTH) {
    return `${field} must be a string of at most ${MAX_CONTROL_REASON_LENGTH} characters`;
  }
  return undefined;
}

function ancestorsProblem(value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (!Array.isArray(value) || value.length > MAX_TURN_DEPTH || !value.every(isTurnId)) {
    return `ancestors must be an array of at most ${MAX_TURN_DEPTH} turn ids`;
  }
  return undefined;
}

function approversProblem(value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((a) => APPROVERS.has(a as string))) {
    return 'approvers must be a non-empty array of "user" | "operator"';
  }
  return undefined;
}

function timeoutProblem(value: unknown): string | undefined {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    return "timeoutMs must be a positive integer";
  }
  return undefined;
}

/** The envelope fields the validators look at. */
export interface ControlEventFields {
  id?: unknown;
  turn?: unknown;
  ref?: unknown;
  data?: unknown;
}

/**
 * Why a client-published `input` or control event (`cancel`, `steer`,
 * `tool.result`, `approval`, `handoff`) is malformed, or undefined when it is
 * well-formed (the gateway answers a problem with `INVALID_FRAME`). Whether
 * the named turn/call exists, and whether the sender may send it, is checked
 * against the control bucket separately. Other types: undefined.
 */
export function controlEventProblem(type: string, event: ControlEventFields): string | undefined {
  const data = event.data;
  switch (type) {
    case INPUT_EVENT_TYPE:
      if (event.id !== undefined && !isTurnId(event.id)) {
        return `input event ids become turn ids and must match [A-Za-z0-9_-]{1,${MAX_TURN_ID_LENGTH}}`;
      }
      return undefined;
    case ControlEventType.CANCEL:
      if (!isTurnId(event.turn)) return "cancel needs turn = the turn id to cancel";
      if (data === undefined) return undefined;
      if (!isObject(data)) return "cancel data must be an object { reason? }";
      return reasonProblem(data.reason);
    case ControlEventType.STEER:
      if (!isTurnId(event.turn)) return "steer needs turn = the turn id to steer";
      if (!isObject(data) || typeof data.text !== "string" || data.text.length === 0) {
        return "steer data must be { text: non-empty string }";
      }
      return undefined;
    case ControlEventType.TOOL_RESULT: {
      if (!isCallId(event.ref)) return "tool.result needs ref = the call id";
      if (!isObject(data)) return "tool.result data must be { result } or { error }";
      const hasResult = Object.hasOwn(data, "result");
      const hasError = Object.hasOwn(data, "error");
      if (hasResult === hasError) return "tool.result data must have exactly one of result / error";
      if (hasError && typeof data.error !== "string") return "tool.result error must be a string";
      return undefined;
    }
    case ControlEventType.APPROVAL:
      if (!isCallId(event.ref)) return "approval needs ref = the call id";
      if (!isObject(data) || typeof data.approved !== "boolean") return "approval data must be { approved: boolean }";
      return reasonProblem(data.reason);
    case ControlEventType.HANDOFF:
      if (!isObject(data) || !HANDOFF_ACTIONS.has(data.action as string)) {
        return 'handoff data must be { action: "request" | "take" | "release" }';
      }
      return reasonProblem(data.reason);
    default:
      return undefined;
  }
}

/**
 * Why an agent-published turn event (`turn.*`, `progress`, `tool.call`,
 * `approval.request`, `call.closed`) is malformed, or undefined. All of them
 * need envelope `turn`; calls need `ref` = `data.call`. Other types: undefined.
 */
export function turnEventProblem(type: string, event: ControlEventFields): string | undefined {
  const known = (Object.values(TurnEventType) as string[]).includes(type);
  if (!known) return undefined;
  if (!isTurnId(event.turn)) return `${type} needs turn = a turn id`;
  const data = event.data;
  if (!isObject(data)) return `${type} data must be an object`;
  switch (type) {
    case TurnEventType.START:
      if (typeof data.agent !== "string" || typeof data.worker !== "string") {
        return "turn.start data must be { agent, worker }";
      }
      if (data.parent !== undefined && !isTurnId(data.parent)) return "parent must be a turn id";
      return ancestorsProblem(data.ancestors, false);
    case TurnEventType.END:
      if (!isFinalTurnStatus(data.status))
        return "turn.end status must be completed | cancelled | failed | interrupted";
      return reasonProblem(data.reason) ?? (data.error === undefined ? undefined : reasonProblem(data.error, "error"));
    case TurnEventType.RESUMED:
      if (
        typeof data.agent !== "string" ||
        typeof data.worker !== "string" ||
        typeof data.previousWorker !== "string"
      ) {
        return "turn.resumed data must be { agent, worker, previousWorker, reason, attempt }";
      }
      if (data.reason !== "crashed" && data.reason !== "lease-expired") {
        return 'turn.resumed reason must be "crashed" | "lease-expired"';
      }
      if (!Number.isInteger(data.attempt) || (data.attempt as number) < 1) return "attempt must be an integer >= 1";
      return undefined;
    case TurnEventType.REQUEST:
      if (event.id !== event.turn) return "turn.request id must equal its turn";
      if (typeof data.agent !== "string" || data.agent.length === 0) return "turn.request needs data.agent (pool name)";
      if (!isTurnId(data.parent)) return "turn.request needs data.parent (a turn id)";
      if (!isObject(data.input)) return "turn.request needs data.input (an object)";
      if (data.input.text !== undefined && typeof data.input.text !== "string") return "input.text must be a string";
      return ancestorsProblem(data.ancestors, true);
    case TurnEventType.PROGRESS:
      if (typeof data.step !== "string" || data.step.length === 0) return "progress needs data.step";
      if (!PROGRESS_STATUSES.has(data.status as string)) {
        return "progress status must be running | done | failed | skipped";
      }
      return undefined;
    case TurnEventType.TOOL_CALL:
      if (!isCallId(data.call) || event.ref !== data.call) return "tool.call needs data.call = ref = a call id";
      if (typeof data.name !== "string" || data.name.length === 0) return "tool.call needs data.name";
      return timeoutProblem(data.timeoutMs);
    case TurnEventType.APPROVAL_REQUEST:
      if (!isCallId(data.call) || event.ref !== data.call) return "approval.request needs data.call = ref = a call id";
      if (typeof data.action !== "string" || data.action.length === 0) return "approval.request needs data.action";
      return approversProblem(data.approvers, true) ?? timeoutProblem(data.timeoutMs);
    default: // CALL_CLOSED
      if (!isCallId(data.call) || event.ref !== data.call) return "call.closed needs data.call = ref = a call id";
      if (!CALL_CLOSED_REASONS.has(data.reason as string))
        return "call.closed reason must be answered | timeout | cancelled | interrupted";
      return undefined;
  }
}

/** Why `value` is not a valid `<session>.turn.<id>` entry, or undefined. */
export function controlTurnEntryProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "value is not a JSON object";
  if (!isTurnStatus(value.status)) return "status must be a turn status";
  if (typeof value.updatedAt !== "number") return "updatedAt must be a number";
  if (value.parent !== undefined && !isTurnId(value.parent)) return "parent must be a turn id";
  if (value.inputSeq !== undefined && !Number.isSafeInteger(value.inputSeq)) return "inputSeq must be an integer";
  if (value.leaseUntil !== undefined && typeof value.leaseUntil !== "number") return "leaseUntil must be a number";
  return ancestorsProblem(value.ancestors, false);
}

/** Why `value` is not a valid `<session>.call.<id>` entry, or undefined. */
export function controlCallEntryProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "value is not a JSON object";
  if (value.kind !== "tool" && value.kind !== "approval") return 'kind must be "tool" | "approval"';
  if (!isTurnId(value.turn)) return "turn must be a turn id";
  if (value.status !== "pending" && value.status !== "answered" && value.status !== "closed") {
    return "status must be pending | answered | closed";
  }
  if (typeof value.deadline !== "number") return "deadline must be a number";
  return approversProblem(value.approvers, false);
}

/** Why `value` is not a valid `<session>.owner` entry, or undefined. */
export function controlOwnerEntryProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "value is not a JSON object";
  const owner = value.owner;
  if (owner !== null && (!isObject(owner) || owner.kind !== "operator" || typeof owner.id !== "string")) {
    return 'owner must be null or { kind: "operator", id }';
  }
  if (!isObject(value.by) || typeof value.by.kind !== "string" || typeof value.by.id !== "string") {
    return "by must be a participant { kind, id }";
  }
  if (typeof value.since !== "number") return "since must be a number";
  return reasonProblem(value.reason);
}

/** Whether a participant of `kind` may answer a call whose entry lists `approvers` (missing = any user or operator). */
export function mayAnswerCall(kind: string, entry: Pick<ControlCallEntry, "kind" | "approvers">): boolean {
  if (kind !== "user" && kind !== "operator") return false;
  if (entry.kind === "tool" || entry.approvers === undefined) return true;
  return entry.approvers.includes(kind);
}
