import {
  emptyMessageState,
  findMessage,
  type Message,
  type MessageRejection,
  type MessageState,
  type SessionRecord,
  stepMessageEvent,
} from "@threadline/protocol";
import { notifyAll } from "./report-error.ts";

/** What `onChange` listeners receive. */
export interface MessageViewChange {
  /** All messages after the change, ordered by their start seq (the same array as `messages`). */
  messages: readonly Message[];
  /** The message the event created or changed. */
  message: Message;
  /** Seq of the event that changed it. */
  seq: number;
}

/**
 * The session's chat messages, materialized from its `message.*` and
 * `input` events as the handle applies them (PROTOCOL.md §18) — so they
 * follow the session exactly once across reconnects and resumes, and a
 * compact catch-up's `message.snapshot` gives the same list as the full
 * stream. Messages whose start was before the attachment's start position
 * are not in the list (their later events count as `unknown_message`):
 * attach from `"start"` (cheap with `history: "compact"`) for the whole
 * conversation.
 */
export interface SessionMessagesView {
  /**
   * Messages ordered by start seq; the array is replaced (never mutated) on
   * every change, so it can be handed to React's `useSyncExternalStore`.
   * Cancelled, interrupted and failed messages stay, with their `status`.
   */
  readonly messages: readonly Message[];
  /** The message with `id`, if the view holds it. */
  get(id: string): Message | undefined;
  /** Events rejected as bad input, by reason (PROTOCOL.md §18.3); the view is unchanged by them. */
  readonly rejected: Readonly<Record<MessageRejection, number>>;
  /** Calls `cb` after each applied message event. Returns an unsubscribe function. */
  onChange(cb: (change: MessageViewChange) => void): () => void;
}

export class MessageView implements SessionMessagesView {
  private state: MessageState = emptyMessageState();
  private readonly listeners = new Set<(change: MessageViewChange) => void>();

  get messages(): readonly Message[] {
    return this.state.messages;
  }

  get rejected(): Readonly<Record<MessageRejection, number>> {
    return this.state.rejected;
  }

  get(id: string): Message | undefined {
    return findMessage(this.state.messages, id);
  }

  onChange(cb: (change: MessageViewChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Folds one applied record (the handle has already dropped duplicates). */
  apply(record: SessionRecord): void {
    const { state, outcome } = stepMessageEvent(this.state, record);
    this.state = state;
    if (outcome !== "applied" || this.listeners.size === 0) return;
    const id = record.event.type === "input" ? record.event.id : (record.event.ref ?? messageIdOf(record));
    const message = id === undefined ? undefined : findMessage(state.messages, id);
    if (message) notifyAll(this.listeners, { messages: state.messages, message, seq: record.seq });
  }
}

function messageIdOf(record: SessionRecord): string | undefined {
  const data = record.event.data as { id?: unknown } | undefined;
  return typeof data?.id === "string" ? data.id : undefined;
}
