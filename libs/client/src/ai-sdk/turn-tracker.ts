import { isTurnId, type SessionEvent, type SessionRecord } from "@threadline/protocol";
import { notifyAll } from "../report-error.ts";
import type { SessionHandle } from "../session-handle.ts";

/** One part of a materialized message: the AI SDK v7 `UIMessage` part shapes (PROTOCOL.md §18). */
export type MessagePart = { type: string } & Record<string, unknown>;

export type MessageStatus = "streaming" | "complete" | "cancelled" | "interrupted" | "error";

/** A message of the session as materialized from its `input` / `message.*` events. */
export interface TrackedMessage {
  id: string;
  role: "assistant" | "user" | "system";
  /** The turn the message belongs to (for a user input: the turn it started). */
  turn: string | undefined;
  parts: MessagePart[];
  metadata: unknown;
  status: MessageStatus;
  error: string | undefined;
}

export type TurnOutcome = "completed" | "cancelled" | "failed" | "interrupted";

/** What a chat shows for one root turn: its assistant messages and those of its delegated sub-turns. */
export interface TurnView {
  readonly id: string;
  /** Assistant messages of the turn tree, in the order they started. */
  readonly messages: readonly TrackedMessage[];
  /** Set once the root turn ended. */
  readonly outcome: { status: TurnOutcome; reason?: string; error?: string } | undefined;
}

/**
 * Most turns remembered; past it the oldest ended turns are forgotten (their
 * messages stay in `messages()`, a reconnect never targets an ended turn).
 */
export const MAX_TRACKED_TURNS = 1_000;
/** Most messages remembered; past it the oldest are forgotten (the app shows older history from its own store). */
export const MAX_TRACKED_MESSAGES = 10_000;

interface TurnState {
  id: string;
  /** The root turn (the user's input) this turn was delegated from; itself for a root turn. */
  root: string;
  /** `turn.start` was seen: the turn is run by a worker pool and ends with `turn.end`. */
  started: boolean;
  outcome: TurnView["outcome"];
  messages: TrackedMessage[];
}

/**
 * Follows a session's events and keeps, per turn, the assistant messages
 * written in it (PROTOCOL.md §17–§18): `input` opens a root turn whose id is
 * the input event id; `turn.request` / `turn.start` with a `parent` add a
 * delegated sub-turn to its root; `message.*` (and compact `message.snapshot`)
 * build the messages; `turn.end` of the root ends it. A turn whose messages
 * were written without `turn.start` (an agent not using a worker pool) ends
 * when all its messages ended. Idempotent under replay: the session handle
 * applies each seq once, and a `message.start` for a known id is ignored.
 */
export class TurnTracker {
  private readonly turns = new Map<string, TurnState>();
  private readonly messagesById = new Map<string, TrackedMessage>();
  private readonly startOrder = new WeakMap<TrackedMessage, number>();
  private started = 0;
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;

  constructor(readonly session: SessionHandle) {
    this.unsubscribe = session.onEvent((record) => this.apply(record));
  }

  /** Stops following the session. */
  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  /** The root turn `turnId` belongs to (itself when it is a root or unknown). */
  rootOf(turnId: string): string {
    return this.turns.get(turnId)?.root ?? turnId;
  }

  /** True when the turn is known (its input or a message of it was seen). */
  knows(turnId: string): boolean {
    return this.turns.has(turnId);
  }

  /** Registers a root turn about to be started by this client's own `input` (before the event is stored). */
  expect(turnId: string): void {
    this.turnFor(turnId);
  }

  /** The most recent root turn that has not ended, if any. */
  inFlight(): string | undefined {
    let latest: string | undefined;
    for (const turn of this.turns.values()) {
      if (turn.root === turn.id && !this.ended(turn)) latest = turn.id;
    }
    return latest;
  }

  view(root: string): TurnView {
    const turn = this.turns.get(root);
    const messages: TrackedMessage[] = [];
    for (const t of this.turns.values()) {
      if (t.root === root) messages.push(...t.messages);
    }
    // Messages of sub-turns interleave with the root's in the order they started.
    messages.sort((a, b) => this.order(a) - this.order(b));
    return { id: root, messages, outcome: turn && this.ended(turn) ? this.outcomeOf(turn) : undefined };
  }

  /** Every remembered message in the order it started (user inputs and agent messages). */
  messages(): TrackedMessage[] {
    return [...this.messagesById.values()];
  }

  /** Calls `cb` synchronously after every event that changed root turn `root`. Returns an unsubscribe function. */
  onChange(root: string, cb: () => void): () => void {
    let set = this.listeners.get(root);
    if (!set) {
      set = new Set();
      this.listeners.set(root, set);
    }
    set.add(cb);
    return () => {
      set.delete(cb);
      if (set.size === 0) this.listeners.delete(root);
    };
  }

  // ---- event folding ------------------------------------------------------------

  private apply({ event }: SessionRecord): void {
    const changed = this.fold(event);
    if (changed === undefined) return;
    const set = this.listeners.get(changed);
    if (set) notifyAll(set, undefined);
  }

  /** Folds one event; returns the root turn it changed, if any. */
  private fold(event: SessionEvent): string | undefined {
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.type) {
      case "input": {
        if (!isTurnId(event.id)) return undefined;
        const turn = this.turnFor(event.id);
        this.remember({
          id: event.id,
          role: "user",
          turn: event.id,
          parts: inputParts(data),
          metadata: undefined,
          status: "complete",
          error: undefined,
        });
        return turn.root;
      }
      case "turn.request":
      case "turn.start": {
        const id = event.type === "turn.request" ? event.id : event.turn;
        if (!isTurnId(id)) return undefined;
        const parent = typeof data.parent === "string" ? data.parent : undefined;
        const turn = this.turnFor(id, parent);
        if (event.type === "turn.start") turn.started = true;
        return turn.root;
      }
      case "turn.end": {
        if (!isTurnId(event.turn)) return undefined;
        const turn = this.turnFor(event.turn);
        turn.started = true;
        turn.outcome = {
          status: isOutcome(data.status) ? data.status : "completed",
          ...(typeof data.reason === "string" ? { reason: data.reason } : {}),
          ...(typeof data.error === "string" ? { error: data.error } : {}),
        };
        this.evictTurns();
        return turn.root;
      }
      default:
        if (event.type.startsWith("message.")) return this.foldMessage(event, data);
        return undefined;
    }
  }

  private foldMessage(event: SessionEvent, data: Record<string, unknown>): string | undefined {
    const id = event.ref ?? (typeof data.id === "string" ? data.id : undefined);
    if (id === undefined) return undefined;
    let message = this.messagesById.get(id);
    if (event.type === "message.start" || event.type === "message.snapshot") {
      if (message && event.type === "message.start") return undefined;
      if (!message) {
        const role = data.role === "user" || data.role === "system" ? data.role : "assistant";
        message = {
          id,
          role,
          turn: event.turn,
          parts: [],
          metadata: data.metadata,
          status: "streaming",
          error: undefined,
        };
        this.remember(message);
        if (event.turn !== undefined && role === "assistant") this.turnFor(event.turn).messages.push(message);
      }
      if (event.type === "message.snapshot") {
        message.parts = Array.isArray(data.parts) ? (data.parts as MessagePart[]).map((p) => ({ ...p })) : [];
        message.status = isMessageStatus(data.status) ? data.status : "complete";
        if (data.metadata !== undefined) message.metadata = data.metadata;
      }
      return this.rootOfMessage(message);
    }
    if (!message || message.status !== "streaming") return undefined;
    switch (event.type) {
      case "message.append": {
        const part = data.part;
        const delta = data.delta;
        if (typeof part !== "number" || typeof delta !== "string") return undefined;
        if (part === message.parts.length) {
          message.parts.push({ type: data.type === "reasoning" ? "reasoning" : "text", text: delta });
        } else {
          const target = message.parts[part];
          if (!target || typeof target.text !== "string") return undefined;
          message.parts[part] = { ...target, text: target.text + delta };
        }
        break;
      }
      case "message.part": {
        const part = data.part;
        const value = data.value;
        if (typeof part !== "number" || part < 0 || part > message.parts.length || !isPart(value)) return undefined;
        message.parts[part] = { ...value };
        break;
      }
      case "message.update":
        if (!Array.isArray(data.parts)) return undefined;
        message.parts = (data.parts as unknown[]).filter(isPart).map((p) => ({ ...p }));
        if (data.metadata !== undefined) message.metadata = data.metadata;
        break;
      case "message.end":
        message.status = isMessageStatus(data.status) && data.status !== "streaming" ? data.status : "complete";
        message.error = typeof data.error === "string" ? data.error : undefined;
        break;
      default:
        return undefined;
    }
    return this.rootOfMessage(message);
  }

  // ---- bookkeeping --------------------------------------------------------------

  private turnFor(id: string, parent?: string): TurnState {
    let turn = this.turns.get(id);
    if (!turn) {
      const root = parent === undefined ? id : (this.turns.get(parent)?.root ?? parent);
      turn = { id, root, started: false, outcome: undefined, messages: [] };
      this.turns.set(id, turn);
      this.evictTurns();
    } else if (parent !== undefined && turn.root === id && parent !== id) {
      // A sub-turn seen first through its messages: attach it to its root now.
      turn.root = this.turns.get(parent)?.root ?? parent;
    }
    return turn;
  }

  private rootOfMessage(message: TrackedMessage): string | undefined {
    return message.turn === undefined ? undefined : this.rootOf(message.turn);
  }

  private ended(turn: TurnState): boolean {
    if (turn.outcome) return true;
    if (turn.started) return false;
    // Messages written without a worker pool: the turn ends with its messages.
    const tree = [...this.turns.values()].filter((t) => t.root === turn.id);
    const messages = tree.flatMap((t) => t.messages);
    return messages.length > 0 && tree.every((t) => !t.started) && messages.every((m) => m.status !== "streaming");
  }

  private outcomeOf(turn: TurnState): NonNullable<TurnView["outcome"]> {
    if (turn.outcome) return turn.outcome;
    const messages = [...this.turns.values()].filter((t) => t.root === turn.id).flatMap((t) => t.messages);
    const failed = messages.find((m) => m.status === "error");
    if (failed) return { status: "failed", ...(failed.error ? { error: failed.error } : {}) };
    if (messages.some((m) => m.status === "cancelled")) return { status: "cancelled" };
    if (messages.some((m) => m.status === "interrupted")) return { status: "interrupted" };
    return { status: "completed" };
  }

  /** Position of a message in start order. */
  private order(message: TrackedMessage): number {
    return this.startOrder.get(message) ?? 0;
  }

  private remember(message: TrackedMessage): void {
    if (this.messagesById.has(message.id)) return;
    this.messagesById.set(message.id, message);
    this.startOrder.set(message, this.started++);
    while (this.messagesById.size > MAX_TRACKED_MESSAGES) {
      const oldest = this.messagesById.keys().next().value as string;
      this.messagesById.delete(oldest);
    }
  }

  private evictTurns(): void {
    if (this.turns.size <= MAX_TRACKED_TURNS) return;
    for (const [id, turn] of this.turns) {
      if (this.turns.size <= MAX_TRACKED_TURNS) return;
      if (this.ended(turn) && !this.listeners.has(turn.root)) this.turns.delete(id);
    }
  }
}

function inputParts(data: Record<string, unknown>): MessagePart[] {
  if (Array.isArray(data.parts)) return (data.parts as unknown[]).filter(isPart).map((p) => ({ ...p }));
  return typeof data.text === "string" ? [{ type: "text", text: data.text }] : [];
}

function isPart(value: unknown): value is MessagePart {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

function isOutcome(value: unknown): value is TurnOutcome {
  return value === "completed" || value === "cancelled" || value === "failed" || value === "interrupted";
}

function isMessageStatus(value: unknown): value is MessageStatus {
  return (
    value === "streaming" ||
    value === "complete" ||
    value === "cancelled" ||
    value === "interrupted" ||
    value === "error"
  );
}
