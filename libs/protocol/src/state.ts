import type { SessionEvent } from "./envelope.ts";
import { ErrorCode, ThreadlineError } from "./errors.ts";

/**
 * Shared session state (PROTOCOL.md §19): named JSON objects of a session
 * that users' devices, agents and operators read and change together. Every
 * change is a `state` event in the session's stream (lane `st`), so the
 * state is a pure function of the session's log: `foldState` applies the
 * operations in stream order, and every participant that applies the same
 * stored operations holds the same objects — at every position.
 */

/** The event type of a state operation. */
export const STATE_EVENT_TYPE = "state";

/** Object names: tokens like session ids, at most 64 characters. */
const OBJECT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Objects whose name starts with this prefix are written by agents (and operators), never by users. */
export const AGENT_OBJECT_PREFIX = "agent-";

export const StateLimits = {
  /** Encoded JSON bytes of one object after an operation. */
  maxObjectBytes: 64 * 1024,
  /** Objects in one session. */
  maxObjects: 100,
  /** Depth of a path (keys and indexes). */
  maxPathDepth: 32,
  /** Length of a list an `insert` may grow. */
  maxListLength: 10_000,
} as const;

export type PathSegment = string | number;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A state operation: the `data` of a `state` event. */
export type StateOp =
  /** Set the value at `path` (`[]`: the whole object), creating missing parent objects. */
  | { object: string; op: "set"; path: PathSegment[]; value: JsonValue; ifVersion?: number }
  /** Delete the key or list element at `path` (`[]`: the whole object). A missing one is not an error. */
  | { object: string; op: "delete"; path: PathSegment[]; ifVersion?: number }
  /** JSON Merge Patch (RFC 7386) of `value` into the object at `path` (null members delete keys). */
  | { object: string; op: "merge"; path: PathSegment[]; value: { [key: string]: JsonValue }; ifVersion?: number }
  /** Add `by` (default 1) to the number at `path` (missing: 0). */
  | { object: string; op: "increment"; path: PathSegment[]; by?: number; ifVersion?: number }
  /** Insert `value` into the list at `path` before `index` (missing or past the end: append; missing list: created). */
  | { object: string; op: "insert"; path: PathSegment[]; index?: number; value: JsonValue; ifVersion?: number }
  /** Remove the element at `index` of the list at `path` (out of range: nothing). */
  | { object: string; op: "remove"; path: PathSegment[]; index: number; ifVersion?: number };

export type StateOpKind = StateOp["op"];

/** One object as every participant holds it. */
export interface StateObject {
  value: JsonValue;
  /** Stream seq of the last operation applied to it: the object's version (CAS compares it). */
  version: number;
  /** Who applied that operation. */
  updatedBy: { kind: string; id: string };
}

/** Every object of a session at a position. */
export interface SessionState {
  /** Seq of the last record offered (state event or not). */
  readonly seq: number;
  readonly objects: Readonly<Record<string, StateObject>>;
}

/** Why a stored operation had no effect (every participant reaches the same verdict). */
export const StateRejection = {
  /** `ifVersion` did not match the object's version. */
  CONFLICT: "conflict",
  /** The path does not lead where the operation needs (a key of a non-object, a number that is not one…). */
  PATH: "path",
  /** The object would exceed `maxObjectBytes`, the session `maxObjects`, or a list `maxListLength`. */
  TOO_LARGE: "too_large",
  /** The author may not write this object (§19.1). */
  FORBIDDEN: "forbidden",
  /** Not a valid operation. */
  INVALID: "invalid",
} as const;
export type StateRejection = (typeof StateRejection)[keyof typeof StateRejection];

export type StateOutcome = "applied" | "not_a_state_event" | StateRejection;

export function isObjectName(value: unknown): value is string {
  return typeof value === "string" && OBJECT_NAME.test(value);
}

/** Whether a participant of `kind` may write object `name` (the stream-level rule; tokens may narrow it, §19.4). */
export function mayWriteObject(kind: string, name: string): boolean {
  if (kind === "system") return false;
  if (name.startsWith(AGENT_OBJECT_PREFIX)) return kind === "agent" || kind === "operator";
  return kind === "user" || kind === "agent" || kind === "operator";
}

/** Why `data` is not a valid state operation, or undefined. */
export function stateOpProblem(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return "state data must be an object";
  const d = data as Record<string, unknown>;
  if (!isObjectName(d.object)) return "object must match [A-Za-z0-9_-]{1,64}";
  if (!Array.isArray(d.path)) return "path must be an array of keys and indexes";
  if (d.path.length > StateLimits.maxPathDepth) return `path is deeper than ${StateLimits.maxPathDepth}`;
  for (const segment of d.path) {
    if (typeof segment === "string") {
      if (segment.length > 256) return "path keys are at most 256 characters";
    } else if (!Number.isSafeInteger(segment) || (segment as number) < 0) {
      return "path segments are strings or non-negative integers";
    }
  }
  if (d.ifVersion !== undefined && (!Number.isSafeInteger(d.ifVersion) || (d.ifVersion as number) < 0)) {
    return "ifVersion must be a non-negative integer";
  }
  switch (d.op) {
    case "set":
      return "value" in d && isJson(d.value) ? undefined : "set needs a JSON value";
    case "delete":
      return undefined;
    case "merge":
      return isPlainObject(d.value) && isJson(d.value) ? undefined : "merge needs a JSON object value";
    case "increment":
      return d.by === undefined || (typeof d.by === "number" && Number.isFinite(d.by))
        ? undefined
        : "by must be a finite number";
    case "insert":
      if (d.index !== undefined && (!Number.isSafeInteger(d.index) || (d.index as number) < 0)) {
        return "index must be a non-negative integer";
      }
      return "value" in d && isJson(d.value) ? undefined : "insert needs a JSON value";
    case "remove":
      return Number.isSafeInteger(d.index) && (d.index as number) >= 0 ? undefined : "remove needs an index";
    default:
      return 'op must be "set" | "delete" | "merge" | "increment" | "insert" | "remove"';
  }
}

/** Throws `INVALID_FRAME` unless `data` is a valid state operation. */
export function checkStateOp(data: unknown, session?: string): asserts data is StateOp {
  const problem = stateOpProblem(data);
  if (problem) throw new ThreadlineError(ErrorCode.INVALID_FRAME, problem, session === undefined ? {} : { session });
}

export function emptySessionState(): SessionState {
  return { seq: 0, objects: {} };
}

/** The record shape the fold needs (a `SessionRecord` fits). */
export interface StateRecord {
  seq: number;
  event: SessionEvent;
}

/**
 * Applies one record to `state` (a new state; inputs are not mutated).
 * Non-state events only advance `seq`. A record at or below `state.seq` is
 * ignored (`duplicate`), so replays after a reconnect are harmless.
 */
export function stepState(
  state: SessionState,
  record: StateRecord,
): { state: SessionState; outcome: StateOutcome | "duplicate" } {
  if (record.seq <= state.seq) return { state, outcome: "duplicate" };
  const next = { seq: record.seq, objects: state.objects };
  if (record.event.type !== STATE_EVENT_TYPE) return { state: next, outcome: "not_a_state_event" };
  const op = record.event.data;
  if (stateOpProblem(op) !== undefined) return { state: next, outcome: StateRejection.INVALID };
  const o = op as StateOp;
  const from = record.event.from;
  if (!mayWriteObject(from.kind, o.object)) return { state: next, outcome: StateRejection.FORBIDDEN };
  const current = state.objects[o.object];
  if (o.ifVersion !== undefined && (current?.version ?? 0) !== o.ifVersion) {
    return { state: next, outcome: StateRejection.CONFLICT };
  }
  if (!current && Object.keys(state.objects).length >= StateLimits.maxObjects && !(o.op === "delete")) {
    return { state: next, outcome: StateRejection.TOO_LARGE };
  }
  const result = applyOp(current?.value, o);
  if (typeof result === "string") return { state: next, outcome: result };
  const objects = { ...state.objects };
  if (result.deleted) delete objects[o.object];
  else {
    if (jsonBytes(result.value) > StateLimits.maxObjectBytes) return { state: next, outcome: StateRejection.TOO_LARGE };
    objects[o.object] = { value: result.value, version: record.seq, updatedBy: { kind: from.kind, id: from.id } };
  }
  return { state: { seq: record.seq, objects }, outcome: "applied" };
}

/** Applies every record in order (see `stepState`). */
export function foldState(state: SessionState, records: Iterable<StateRecord>): SessionState {
  let s = state;
  for (const record of records) s = stepState(s, record).state;
  return s;
}

/**
 * The pre-check a writer (gateway, SDK) makes before storing an operation:
 * the verdict the fold would reach if `op` were stored right after `state`.
 * Racing writers may still make a stored operation lose (`conflict`): the
 * fold is the judge, this only avoids storing what is certain to fail.
 */
export function previewStateOp(state: SessionState, op: StateOp, from: { kind: string; id: string }): StateOutcome {
  return stepState(state, {
    seq: state.seq + 1,
    event: { id: "preview", type: STATE_EVENT_TYPE, from: from as never, ts: 0, data: op },
  }).outcome as StateOutcome;
}

type Applied = { value: JsonValue; deleted?: false } | { deleted: true };

function applyOp(current: JsonValue | undefined, op: StateOp): Applied | StateRejection {
  if (op.path.length === 0) {
    switch (op.op) {
      case "set":
        return { value: clone(op.value) };
      case "delete":
        return { deleted: true };
      case "merge":
        return { value: mergePatch(current, op.value) };
      case "increment":
        return typeof (current ?? 0) === "number"
          ? { value: ((current as number | undefined) ?? 0) + (op.by ?? 1) }
          : StateRejection.PATH;
      case "insert":
      case "remove":
        return listOp(current, op);
    }
  }
  const root: JsonValue = current === undefined ? {} : clone(current);
  // Walk to the parent of the last segment, creating missing objects (set, merge, increment, insert only).
  const creates = op.op !== "delete" && op.op !== "remove";
  let parent: JsonValue = root;
  for (let i = 0; i < op.path.length - 1; i++) {
    const segment = op.path[i] as PathSegment;
    const child = getChild(parent, segment);
    if (child === undefined) {
      if (!creates) return current === undefined ? { deleted: true } : { value: current };
      if (typeof segment !== "string" || !isPlainObject(parent)) return StateRejection.PATH;
      (parent as Record<string, JsonValue>)[segment] = {};
      parent = (parent as Record<string, JsonValue>)[segment] as JsonValue;
      continue;
    }
    if (child === PATH_ERROR) return StateRejection.PATH;
    parent = child;
  }
  const last = op.path[op.path.length - 1] as PathSegment;
  const target = getChild(parent, last);
  if (target === PATH_ERROR) return StateRejection.PATH;
  let value: JsonValue | undefined;
  switch (op.op) {
    case "set":
      value = clone(op.value);
      break;
    case "delete":
      if (target === undefined) return current === undefined ? { deleted: true } : { value: current };
      removeChild(parent, last);
      return { value: root };
    case "merge":
      value = mergePatch(target, op.value);
      break;
    case "increment":
      if (target !== undefined && typeof target !== "number") return StateRejection.PATH;
      value = ((target as number | undefined) ?? 0) + (op.by ?? 1);
      break;
    case "insert":
    case "remove": {
      const list = listOp(target, op);
      if (typeof list === "string") return list;
      if (list.deleted) return current === undefined ? { deleted: true } : { value: current };
      value = list.value;
      break;
    }
  }
  if (!setChild(parent, last, value as JsonValue)) return StateRejection.PATH;
  return { value: root };
}

function listOp(
  target: JsonValue | undefined,
  op: Extract<StateOp, { op: "insert" | "remove" }>,
): Applied | StateRejection {
  if (target !== undefined && !Array.isArray(target)) return StateRejection.PATH;
  const list = target === undefined ? [] : [...target];
  if (op.op === "insert") {
    if (list.length >= StateLimits.maxListLength) return StateRejection.TOO_LARGE;
    const at = op.index === undefined ? list.length : Math.min(op.index, list.length);
    list.splice(at, 0, clone(op.value));
    return { value: list };
  }
  if (target === undefined) return { deleted: true };
  if (op.index < list.length) list.splice(op.index, 1);
  return { value: list };
}

const PATH_ERROR = Symbol("path");

function getChild(parent: JsonValue, segment: PathSegment): JsonValue | undefined | typeof PATH_ERROR {
  if (typeof segment === "number") {
    if (!Array.isArray(parent)) return PATH_ERROR;
    return segment < parent.length ? parent[segment] : undefined;
  }
  if (!isPlainObject(parent)) return PATH_ERROR;
  return Object.hasOwn(parent, segment) ? (parent as Record<string, JsonValue>)[segment] : undefined;
}

function setChild(parent: JsonValue, segment: PathSegment, value: JsonValue): boolean {
  if (typeof segment === "number") {
    if (!Array.isArray(parent) || segment > parent.length) return false;
    parent[segment] = value;
    return true;
  }
  if (!isPlainObject(parent)) return false;
  (parent as Record<string, JsonValue>)[segment] = value;
  return true;
}

function removeChild(parent: JsonValue, segment: PathSegment): void {
  if (typeof segment === "number" && Array.isArray(parent)) parent.splice(segment, 1);
  else if (typeof segment === "string" && isPlainObject(parent)) delete (parent as Record<string, JsonValue>)[segment];
}

/** RFC 7386 JSON Merge Patch. */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, JsonValue> = isPlainObject(target) ? { ...(target as Record<string, JsonValue>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, JsonValue>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isJson(value: unknown, depth = 0): value is JsonValue {
  if (depth > 64) return false;
  if (value === null || typeof value === "boolean" || typeof value === "string") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (isPlainObject(value)) return Object.values(value).every((v) => isJson(v, depth + 1));
  return false;
}

function clone<T extends JsonValue>(value: T): T {
  return value === null || typeof value !== "object" ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** UTF-8 bytes of a value's JSON encoding. */
export function jsonBytes(value: JsonValue): number {
  return new TextEncoder().encode(JSON.stringify(value)).byteLength;
}

/** The typed error a writer gets for a rejected operation (PROTOCOL.md §19.4). */
export function stateRejectionError(verdict: StateRejection, object: string, session?: string): ThreadlineError {
  const s = session === undefined ? {} : { session };
  switch (verdict) {
    case StateRejection.CONFLICT:
      return new ThreadlineError(
        ErrorCode.STATE_CONFLICT,
        `state object ${object} changed since the version the operation expected; read it again`,
        s,
      );
    case StateRejection.TOO_LARGE:
      return new ThreadlineError(
        ErrorCode.STATE_TOO_LARGE,
        `state object ${object}: the operation would exceed ${StateLimits.maxObjectBytes} bytes per object, ${StateLimits.maxObjects} objects per session or ${StateLimits.maxListLength} list elements`,
        s,
      );
    case StateRejection.PATH:
      return new ThreadlineError(
        ErrorCode.STATE_PATH,
        `state object ${object}: the path does not lead where the operation needs`,
        s,
      );
    case StateRejection.FORBIDDEN:
      return new ThreadlineError(ErrorCode.FORBIDDEN, `not allowed to write state object ${object}`, s);
    case StateRejection.INVALID:
      return new ThreadlineError(ErrorCode.INVALID_FRAME, `invalid state operation on ${object}`, s);
  }
}
