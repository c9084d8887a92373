import type { SessionEvent } from "./envelope.ts";
import { INPUT_EVENT_TYPE } from "./turns.ts";

/**
 * Messages: streamed, mutable chat messages materialized from `message.*`
 * events (PROTOCOL.md §18). Agents publish `message.start`, then deltas
 * (`message.append`), whole parts (`message.part`) or a full replacement
 * (`message.update`), then `message.end`. The gateway's compact catch-up
 * sends `message.snapshot` instead of a completed message's deltas. A user's
 * `input` event is a user message too. {@link applyMessageEvent} folds all of
 * them into an ordered list; it is pure and idempotent under replay.
 */
export const MessageEventType = {
  START: "message.start",
  APPEND: "message.append",
  PART: "message.part",
  UPDATE: "message.update",
  END: "message.end",
  SNAPSHOT: "message.snapshot",
} as const;
export type MessageEventType = (typeof MessageEventType)[keyof typeof MessageEventType];

export type MessageRole = "assistant" | "user" | "system";
const ROLES: ReadonlySet<string> = new Set(["assistant", "user", "system"]);

/** Message ids are tokens (`[A-Za-z0-9_-]{1,64}`), unique in their session. */
export function isMessageId(value: unknown): value is string {
  return typeof value === "string" && MESSAGE_ID.test(value);
}
const MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** How a message ended. */
export type MessageEndStatus = "complete" | "cancelled" | "interrupted" | "error";
/** A materialized message's status: `streaming` until its `message.end`. */
export type MessageStatus = "streaming" | MessageEndStatus;
const END_STATUSES: ReadonlySet<string> = new Set(["complete", "cancelled", "interrupted", "error"]);

export function isMessageEndStatus(value: unknown): value is MessageEndStatus {
  return typeof value === "string" && END_STATUSES.has(value);
}

/** Who wrote a message (for agents: their participant; `name` is for display). */
export interface MessageAuthor {
  kind: string;
  id: string;
  name?: string;
}

// ---- UI parts: the AI SDK v7 `UIMessage` part shapes, so adapters map 1:1 ----

/** Streamed text. Parts opened by `message.append` carry `state: "streaming"` until the message ends (`"done"`). */
export interface TextPart {
  type: "text";
  text: string;
  state?: "streaming" | "done";
  providerMetadata?: Record<string, unknown>;
}

/** Streamed model reasoning; same rules as {@link TextPart}. */
export interface ReasoningPart {
  type: "reasoning";
  text: string;
  state?: "streaming" | "done";
  providerMetadata?: Record<string, unknown>;
}

/**
 * A tool invocation: `type: "tool-<name>"` (static tools) or `"dynamic-tool"`
 * (with `toolName`); `state` follows the AI SDK (`input-streaming`,
 * `input-available`, `approval-requested`, `approval-responded`,
 * `output-available`, `output-error`, `output-denied`). Set as a whole with
 * `message.part` each time its state changes.
 */
export interface ToolPart {
  type: `tool-${string}` | "dynamic-tool";
  toolCallId: string;
  toolName?: string;
  state: string;
  input?: unknown;
  output?: unknown;
  errorText?: string;
  [key: string]: unknown;
}

export interface SourceUrlPart {
  type: "source-url";
  sourceId: string;
  url: string;
  title?: string;
  providerMetadata?: Record<string, unknown>;
}

export interface SourceDocumentPart {
  type: "source-document";
  sourceId: string;
  mediaType: string;
  title: string;
  filename?: string;
  providerMetadata?: Record<string, unknown>;
}

export interface FilePart {
  type: "file";
  mediaType: string;
  url: string;
  filename?: string;
  providerMetadata?: Record<string, unknown>;
}

/** Application data: `type: "data-<name>"`. */
export interface DataPart {
  type: `data-${string}`;
  id?: string;
  data: unknown;
}

export interface StepStartPart {
  type: "step-start";
}

/**
 * One part of a message. The known shapes above are those of the AI SDK's
 * `UIMessagePart`; any other object with a string `type` is carried as is
 * (forward compatibility with new part kinds).
 */
export type MessagePart =
  | TextPart
  | ReasoningPart
  | ToolPart
  | SourceUrlPart
  | SourceDocumentPart
  | FilePart
  | DataPart
  | StepStartPart;

/** Part types that `message.append` deltas extend. */
export type TextLikeType = "text" | "reasoning";

// ---- event data ----

export interface MessageStartData {
  /** The message id; equals the envelope `ref`. */
  id: string;
  role: MessageRole;
  /** Default: the envelope's `from`. */
  author?: MessageAuthor;
  metadata?: unknown;
}

export interface MessageAppendData {
  /** Index of a text-like part; `parts.length` opens a new part of `type`. */
  part: number;
  delta: string;
  /** Type of the part the delta extends or opens. Default `"text"`. */
  type?: TextLikeType;
}

export interface MessagePartData {
  /** Index of the part to set; `parts.length` adds a part. */
  part: number;
  value: MessagePart;
}

export interface MessageUpdateData {
  parts: MessagePart[];
  metadata?: unknown;
}

export interface MessageEndData {
  status: MessageEndStatus;
  error?: string;
}

/** A whole message at one point (compact catch-up, or published by an agent as an upsert). */
export interface MessageSnapshotData {
  id: string;
  role: MessageRole;
  author: MessageAuthor;
  parts: MessagePart[];
  status: MessageStatus;
  error?: string;
  metadata?: unknown;
  /** Seq of the message's first event (its `message.start` or `input`); orders the message list. */
  startSeq?: number;
}

// ---- limits ----

/** UTF-8 bytes of one `message.append` delta. Larger deltas are rejected (`too_large`). */
export const MAX_MESSAGE_DELTA_BYTES = 32 * 1024;
/** UTF-8 bytes of all text/reasoning text in one message. An append past it is rejected (`too_large`). */
export const MAX_MESSAGE_TEXT_BYTES = 1024 * 1024;
/** Parts in one message. Opening or replacing past it is rejected (`too_large`). */
export const MAX_MESSAGE_PARTS = 1000;
/** Messages kept in one materialized view; past it the oldest (lowest start seq) is evicted. */
export const MAX_MESSAGES = 10_000;

// ---- the materialized view ----

/** A materialized message (the AI SDK `UIMessage` fields plus Threadline's status and positions). */
export interface Message {
  id: string;
  role: MessageRole;
  author: MessageAuthor;
  parts: readonly MessagePart[];
  metadata?: unknown;
  status: MessageStatus;
  /** The `message.end` error text, when `status` is `error`. */
  error?: string;
  /** The turn the message belongs to (envelope `turn`; for user input: the input's own id). */
  turn?: string;
  /** Seq of the message's first event; the list is ordered by it. */
  seq: number;
  /** UTF-8 bytes of its text/reasoning text (bounded by {@link MAX_MESSAGE_TEXT_BYTES}). */
  textBytes: number;
}

/** Why an event was not applied. Each is counted in {@link MessageState.rejected}. */
export const MessageRejection = {
  /** Malformed `data` (wrong types, missing fields, unknown role/status, bad part). */
  INVALID: "invalid",
  /** The event refers to a message this view does not hold. */
  UNKNOWN_MESSAGE: "unknown_message",
  /** `message.append`, `message.part` or `message.end` after the message's `message.end`. */
  MESSAGE_ENDED: "message_ended",
  /** `message.start` / `input` with an id the view already holds. */
  DUPLICATE_START: "duplicate_start",
  /** A part index beyond `parts.length` (parts must be opened in order). */
  PART_GAP: "part_gap",
  /** An append to a part that is not text-like, or of another text-like type. */
  PART_TYPE: "part_type",
  /** A delta, message text or part count above the limits. */
  TOO_LARGE: "too_large",
} as const;
export type MessageRejection = (typeof MessageRejection)[keyof typeof MessageRejection];

/** What {@link stepMessageEvent} did with a record. */
export type MessageOutcome = "applied" | "duplicate" | "not_a_message_event" | MessageRejection;

export interface MessageState {
  /** Seq of the last record offered (every record, message event or not); later records must have greater seqs. */
  readonly seq: number;
  /** Messages ordered by their start seq. */
  readonly messages: readonly Message[];
  /** Rejected events by reason (bad input counters). */
  readonly rejected: Readonly<Record<MessageRejection, number>>;
}

/** The record shape the reducer needs (a `SessionRecord` fits). */
export interface MessageRecord {
  seq: number;
  event: SessionEvent;
}

export function emptyMessageState(): MessageState {
  return {
    seq: 0,
    messages: [],
    rejected: {
      invalid: 0,
      unknown_message: 0,
      message_ended: 0,
      duplicate_start: 0,
      part_gap: 0,
      part_type: 0,
      too_large: 0,
    },
  };
}

/** True for the event types {@link applyMessageEvent} folds (`message.*` and `input`). */
export function isMessageEventType(type: string): boolean {
  return type === INPUT_EVENT_TYPE || (type.startsWith("message.") && MESSAGE_TYPES.has(type));
}
const MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.values(MessageEventType));

/**
 * Folds one record into the view and says what happened. Pure: `state` is
 * never mutated; an event that is not applied returns a state whose only
 * changes are `seq` and (for rejections) the `rejected` counter.
 *
 * - A record with `seq ≤ state.seq` is a duplicate (replay/resume) and ignored.
 * - Other event types only advance `seq`.
 * - Bad events are rejected per PROTOCOL.md §18.3 and counted; the messages stay as they were.
 * @example
 *   let view = emptyMessageState();
 *   for (const record of records) view = applyMessageEvent(view, record);
 *   view.messages.map((m) => m.parts);
 */
export function stepMessageEvent(
  state: MessageState,
  record: MessageRecord,
): {
  state: MessageState;
  outcome: MessageOutcome;
} {
  if (!(record.seq > state.seq)) return { state, outcome: "duplicate" };
  const event = record.event;
  if (!isMessageEventType(event.type)) {
    return { state: { ...state, seq: record.seq }, outcome: "not_a_message_event" };
  }
  const result = reduce(state.messages, record.seq, event);
  if (typeof result === "string") {
    const rejected = { ...state.rejected, [result]: state.rejected[result] + 1 };
    return { state: { seq: record.seq, messages: state.messages, rejected }, outcome: result };
  }
  return { state: { seq: record.seq, messages: result, rejected: state.rejected }, outcome: "applied" };
}

/** {@link stepMessageEvent} without the outcome. */
export function applyMessageEvent(state: MessageState, record: MessageRecord): MessageState {
  return stepMessageEvent(state, record).state;
}

/** The message with `id`, searching from the newest (events nearly always touch recent messages). */
export function findMessage(messages: readonly Message[], id: string): Message | undefined {
  const i = indexOf(messages, id);
  return i < 0 ? undefined : messages[i];
}

/**
 * The snapshot that stands for `message` (what the gateway's compact
 * catch-up sends): applying it to a view without the message, or with an
 * older state of it, yields `message`.
 */
export function messageSnapshotData(message: Message): MessageSnapshotData {
  const data: MessageSnapshotData = {
    id: message.id,
    role: message.role,
    author: message.author,
    parts: [...message.parts],
    status: message.status,
    startSeq: message.seq,
  };
  if (message.error !== undefined) data.error = message.error;
  if (message.metadata !== undefined) data.metadata = message.metadata;
  return data;
}

/** UTF-8 length of a string without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Problem with a part value, or undefined when it is a valid part. */
export function messagePartProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "a part must be an object";
  const part = value as Record<string, unknown>;
  if (typeof part.type !== "string" || part.type.length === 0 || part.type.length > 128) {
    return "a part needs a string type (1-128 chars)";
  }
  if ((part.type === "text" || part.type === "reasoning") && typeof part.text !== "string") {
    return `a ${part.type} part needs a string text`;
  }
  if ((part.type.startsWith("tool-") || part.type === "dynamic-tool") && typeof part.toolCallId !== "string") {
    return `a ${part.type} part needs a string toolCallId`;
  }
  return undefined;
}

// ---- internals ----

type Reduced = readonly Message[] | MessageRejection;

function reduce(messages: readonly Message[], seq: number, event: SessionEvent): Reduced {
  if (event.type === INPUT_EVENT_TYPE) return startFromInput(messages, seq, event);
  const data = event.data as Record<string, unknown> | undefined;
  if (typeof data !== "object" || data === null) return MessageRejection.INVALID;
  if (event.type === MessageEventType.START) return start(messages, seq, event, data);
  if (event.type === MessageEventType.SNAPSHOT) return snapshot(messages, seq, event, data);
  const id = event.ref;
  if (typeof id !== "string") return MessageRejection.INVALID;
  const index = indexOf(messages, id);
  if (index < 0) return MessageRejection.UNKNOWN_MESSAGE;
  const message = messages[index]!;
  let next: Message | MessageRejection;
  switch (event.type) {
    case MessageEventType.APPEND:
      next = append(message, data);
      break;
    case MessageEventType.PART:
      next = setPart(message, data);
      break;
    case MessageEventType.UPDATE:
      next = update(message, data);
      break;
    default:
      next = end(message, data);
  }
  if (typeof next === "string") return next;
  const copy = messages.slice();
  copy[index] = next;
  return copy;
}

function startFromInput(messages: readonly Message[], seq: number, event: SessionEvent): Reduced {
  const data = event.data as { text?: unknown; parts?: unknown } | undefined;
  let parts: MessagePart[];
  if (data !== undefined && data !== null && Array.isArray(data.parts)) {
    const checked = checkParts(data.parts);
    if (typeof checked === "string") return checked;
    parts = checked;
  } else if (data !== undefined && data !== null && typeof data.text === "string") {
    parts = [{ type: "text", text: data.text }];
  } else return MessageRejection.INVALID;
  if (indexOf(messages, event.id) >= 0) return MessageRejection.DUPLICATE_START;
  const textBytes = partsTextBytes(parts);
  if (textBytes > MAX_MESSAGE_TEXT_BYTES) return MessageRejection.TOO_LARGE;
  return insert(messages, {
    id: event.id,
    role: "user",
    author: { kind: event.from.kind, id: event.from.id },
    parts,
    status: "complete",
    turn: event.turn ?? event.id,
    seq,
    textBytes,
  });
}

function start(messages: readonly Message[], seq: number, event: SessionEvent, data: Record<string, unknown>): Reduced {
  const id = event.ref;
  if (!isMessageId(id) || (data.id !== undefined && data.id !== id)) return MessageRejection.INVALID;
  if (typeof data.role !== "string" || !ROLES.has(data.role)) return MessageRejection.INVALID;
  const author = data.author === undefined ? { kind: event.from.kind, id: event.from.id } : toAuthor(data.author);
  if (author === undefined) return MessageRejection.INVALID;
  if (indexOf(messages, id) >= 0) return MessageRejection.DUPLICATE_START;
  const message: Message = {
    id,
    role: data.role as MessageRole,
    author,
    parts: [],
    status: "streaming",
    seq,
    textBytes: 0,
  };
  if (data.metadata !== undefined) message.metadata = data.metadata;
  if (event.turn !== undefined) message.turn = event.turn;
  return insert(messages, message);
}

function snapshot(
  messages: readonly Message[],
  seq: number,
  event: SessionEvent,
  data: Record<string, unknown>,
): Reduced {
  const id = data.id;
  if (!isMessageId(id) || (event.ref !== undefined && event.ref !== id)) return MessageRejection.INVALID;
  if (typeof data.role !== "string" || !ROLES.has(data.role)) return MessageRejection.INVALID;
  const author = toAuthor(data.author);
  if (author === undefined) return MessageRejection.INVALID;
  if (data.status !== "streaming" && !isMessageEndStatus(data.status)) return MessageRejection.INVALID;
  if (data.error !== undefined && typeof data.error !== "string") return MessageRejection.INVALID;
  if (data.startSeq !== undefined && !(Number.isSafeInteger(data.startSeq) && (data.startSeq as number) >= 1)) {
    return MessageRejection.INVALID;
  }
  if (!Array.isArray(data.parts)) return MessageRejection.INVALID;
  const parts = checkParts(data.parts);
  if (typeof parts === "string") return parts;
  const textBytes = partsTextBytes(parts);
  if (textBytes > MAX_MESSAGE_TEXT_BYTES) return MessageRejection.TOO_LARGE;
  const index = indexOf(messages, id);
  const existing = index < 0 ? undefined : messages[index];
  // A snapshot names the message by (id, startSeq): another message with the same id is a duplicate.
  if (existing !== undefined && data.startSeq !== undefined && existing.seq !== data.startSeq) {
    return MessageRejection.DUPLICATE_START;
  }
  const message: Message = {
    id,
    role: data.role as MessageRole,
    author,
    parts,
    status: data.status as MessageStatus,
    seq: existing?.seq ?? Math.min((data.startSeq as number | undefined) ?? seq, seq),
    textBytes,
  };
  if (data.metadata !== undefined) message.metadata = data.metadata;
  if (data.error !== undefined) message.error = data.error as string;
  const turn = event.turn ?? existing?.turn;
  if (turn !== undefined) message.turn = turn;
  if (existing === undefined) return insert(messages, message);
  const copy = messages.slice();
  copy[index] = message;
  return copy;
}

function append(message: Message, data: Record<string, unknown>): Message | MessageRejection {
  if (message.status !== "streaming") return MessageRejection.MESSAGE_ENDED;
  const { part, delta } = data;
  const type = data.type ?? "text";
  if (typeof delta !== "string" || !isPartIndex(part) || (type !== "text" && type !== "reasoning")) {
    return MessageRejection.INVALID;
  }
  if (part > message.parts.length) return MessageRejection.PART_GAP;
  const bytes = utf8Length(delta);
  if (bytes > MAX_MESSAGE_DELTA_BYTES || message.textBytes + bytes > MAX_MESSAGE_TEXT_BYTES) {
    return MessageRejection.TOO_LARGE;
  }
  const parts = message.parts.slice();
  if (part === parts.length) {
    if (parts.length >= MAX_MESSAGE_PARTS) return MessageRejection.TOO_LARGE;
    parts.push({ type, text: delta, state: "streaming" });
  } else {
    const current = parts[part]!;
    if (current.type !== type) return MessageRejection.PART_TYPE;
    parts[part] = { ...(current as TextPart | ReasoningPart), text: (current as TextPart).text + delta };
  }
  return { ...message, parts, textBytes: message.textBytes + bytes };
}

function setPart(message: Message, data: Record<string, unknown>): Message | MessageRejection {
  if (message.status !== "streaming") return MessageRejection.MESSAGE_ENDED;
  const { part, value } = data;
  if (!isPartIndex(part) || messagePartProblem(value) !== undefined) return MessageRejection.INVALID;
  if (part > message.parts.length) return MessageRejection.PART_GAP;
  if (part === message.parts.length && part >= MAX_MESSAGE_PARTS) return MessageRejection.TOO_LARGE;
  const parts = message.parts.slice();
  parts[part] = value as MessagePart;
  const textBytes = partsTextBytes(parts);
  if (textBytes > MAX_MESSAGE_TEXT_BYTES) return MessageRejection.TOO_LARGE;
  return { ...message, parts, textBytes };
}

function update(message: Message, data: Record<string, unknown>): Message | MessageRejection {
  if (!Array.isArray(data.parts)) return MessageRejection.INVALID;
  const parts = checkParts(data.parts);
  if (typeof parts === "string") return parts;
  const textBytes = partsTextBytes(parts);
  if (textBytes > MAX_MESSAGE_TEXT_BYTES) return MessageRejection.TOO_LARGE;
  const next: Message = { ...message, parts, textBytes };
  if (data.metadata !== undefined) next.metadata = data.metadata;
  return next;
}

function end(message: Message, data: Record<string, unknown>): Message | MessageRejection {
  if (message.status !== "streaming") return MessageRejection.MESSAGE_ENDED;
  if (!isMessageEndStatus(data.status)) return MessageRejection.INVALID;
  if (data.error !== undefined && typeof data.error !== "string") return MessageRejection.INVALID;
  const parts = message.parts.map((p) =>
    (p.type === "text" || p.type === "reasoning") && p.state === "streaming" ? { ...p, state: "done" as const } : p,
  );
  const next: Message = { ...message, parts, status: data.status };
  if (data.error !== undefined) next.error = data.error as string;
  return next;
}

function checkParts(values: unknown[]): MessagePart[] | MessageRejection {
  if (values.length > MAX_MESSAGE_PARTS) return MessageRejection.TOO_LARGE;
  for (const value of values) if (messagePartProblem(value) !== undefined) return MessageRejection.INVALID;
  return values.slice() as MessagePart[];
}

function partsTextBytes(parts: readonly MessagePart[]): number {
  let bytes = 0;
  for (const p of parts) if (p.type === "text" || p.type === "reasoning") bytes += utf8Length(p.text);
  return bytes;
}

function toAuthor(value: unknown): MessageAuthor | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const a = value as Record<string, unknown>;
  if (typeof a.kind !== "string" || typeof a.id !== "string") return undefined;
  if (a.name !== undefined && typeof a.name !== "string") return undefined;
  const author: MessageAuthor = { kind: a.kind, id: a.id };
  if (a.name !== undefined) author.name = a.name as string;
  return author;
}

function isPartIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function indexOf(messages: readonly Message[], id: string): number {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.id === id) return i;
  return -1;
}

/** Inserts by start seq (nearly always at the end) and evicts the oldest past {@link MAX_MESSAGES}. */
function insert(messages: readonly Message[], message: Message): readonly Message[] {
  let at = messages.length;
  while (at > 0 && messages[at - 1]!.seq > message.seq) at--;
  const copy = messages.slice();
  copy.splice(at, 0, message);
  if (copy.length > MAX_MESSAGES) copy.splice(0, copy.length - MAX_MESSAGES);
  return copy;
}
