/** The message model: event data shapes, parts, limits and the materialized `Message` (the reducer is in messages.ts). */
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

export function isMessageRole(value: unknown): value is MessageRole {
  return typeof value === "string" && ROLES.has(value);
}

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
