// Over 400 lines on purpose: one reducer (messages from message.* events) with its validation per event type; its types are in message-types.ts.
import type { SessionEvent } from "./envelope.ts";
import {
  isMessageEndStatus,
  isMessageId,
  isMessageRole,
  MAX_MESSAGE_DELTA_BYTES,
  MAX_MESSAGE_PARTS,
  MAX_MESSAGE_TEXT_BYTES,
  MAX_MESSAGES,
  type Message,
  type MessageAuthor,
  MessageEventType,
  type MessagePart,
  type MessageRole,
  type MessageSnapshotData,
  type MessageStatus,
  type ReasoningPart,
  type TextPart,
} from "./message-types.ts";
import { INPUT_EVENT_TYPE } from "./turns.ts";

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
  if (!isMessageRole(data.role)) return MessageRejection.INVALID;
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
  if (!isMessageRole(data.role)) return MessageRejection.INVALID;
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
