import {
  ErrorCode,
  emptyMessageState,
  findMessage,
  isTurnId,
  type Message,
  type MessageState,
  newId,
  type SessionRecord,
  stepMessageEvent,
  ThreadlineError,
} from "@threadline/protocol";
import { notifyAll } from "../report-error.ts";
import type { SessionHandle } from "../session-handle.ts";

export type TurnOutcome = "completed" | "cancelled" | "failed" | "interrupted";

/** What a chat shows for one root turn: its assistant messages and those of its delegated sub-turns. */
export interface TurnView {
  readonly id: string;
  /** Assistant messages of the turn tree, in stream order. */
  readonly messages: readonly Message[];
  /** Set once the root turn ended. */
  readonly outcome: { status: TurnOutcome; reason?: string; error?: string } | undefined;
}

/**
 * Most turns remembered; past it the oldest ended turns are forgotten (a
 * reconnect only ever targets a turn that has not ended).
 */
export const MAX_TRACKED_TURNS = 1_000;

interface TurnState {
  id: string;
  /** The root turn (the user's input) this turn was delegated from; itself for a root turn. */
  root: string;
  /** `turn.start` was seen: the turn is run by a worker pool and ends with `turn.end`. */
  started: boolean;
  outcome: TurnView["outcome"];
  /** Ids of the turn's assistant messages. */
  messages: string[];
}

/**
 * Follows a session's events and groups its messages by turn (PROTOCOL.md
 * §17–§18). Messages are materialized by the protocol's reducer
 * (`stepMessageEvent`: idempotent under replay, bad events rejected and
 * counted, never corrupting the view); turns come from `input` (a root turn
 * whose id is the input's id), `turn.request` / `turn.start` with a `parent`
 * (a delegated sub-turn, shown as part of its root) and `turn.end`. A turn
 * whose messages were written without `turn.start` (an agent not using a
 * worker pool) ends when all its messages ended.
 */
export class TurnTracker {
  private state: MessageState = emptyMessageState();
  private readonly turns = new Map<string, TurnState>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;

  private readonly failureListeners = new Set<(error: ThreadlineError) => void>();
  private readonly unsubscribeErrors: () => void;

  constructor(readonly session: SessionHandle) {
    this.unsubscribe = session.onEvent((record) => this.apply(record));
    // A terminal error ends the attachment: no turn can progress through this handle any more.
    this.unsubscribeErrors = session.onError((error) => {
      if (!error.retryable) notifyAll(this.failureListeners, error);
    });
  }

  /** Stops following the session. */
  close(): void {
    this.unsubscribe();
    this.unsubscribeErrors();
    this.listeners.clear();
    this.failureListeners.clear();
  }

  /** Calls `cb` when the session handle ends with a terminal error (e.g. `FORBIDDEN`). Returns an unsubscribe function. */
  onFailure(cb: (error: ThreadlineError) => void): () => void {
    this.failureListeners.add(cb);
    return () => {
      this.failureListeners.delete(cb);
    };
  }

  /** The session's messages (user inputs and agent messages) in stream order, as the protocol materializes them. */
  get messages(): readonly Message[] {
    return this.state.messages;
  }

  /** The root turn `turnId` belongs to (itself when it is a root or unknown). */
  rootOf(turnId: string): string {
    return this.turns.get(turnId)?.root ?? turnId;
  }

  /**
   * Registers the root turn this client's own `input` is about to start
   * (before the event is stored) and returns its id, which is the input
   * event's id (PROTOCOL.md §17): `wanted` (the chat's user message id or run
   * id) when it is a turn id the session has not seen yet, otherwise a new id.
   */
  startTurn(wanted: string | undefined): string {
    const turn = isTurnId(wanted) && !this.turns.has(wanted) ? wanted : newId();
    this.turnFor(turn);
    return turn;
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
    const messages: Message[] = [];
    for (const t of this.tree(root)) {
      for (const id of t.messages) {
        const message = findMessage(this.state.messages, id);
        if (message) messages.push(message);
      }
    }
    messages.sort((a, b) => a.seq - b.seq);
    return { id: root, messages, outcome: turn && this.ended(turn) ? this.outcomeOf(turn) : undefined };
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

  private apply(record: SessionRecord): void {
    const changed = this.fold(record);
    if (changed === undefined) return;
    const set = this.listeners.get(changed);
    if (set) notifyAll(set, undefined);
  }

  /** Folds one record; returns the root turn it changed, if any. */
  private fold(record: SessionRecord): string | undefined {
    const { event } = record;
    const { state, outcome } = stepMessageEvent(this.state, record);
    this.state = state;
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.type) {
      case "input":
        return isTurnId(event.id) ? this.turnFor(event.id).root : undefined;
      case "turn.request":
      case "turn.start": {
        const id = event.type === "turn.request" ? event.id : event.turn;
        if (!isTurnId(id)) return undefined;
        const turn = this.turnFor(id, typeof data.parent === "string" ? data.parent : undefined);
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
      default: {
        if (outcome !== "applied") return undefined;
        const id = event.ref ?? (typeof data.id === "string" ? data.id : undefined);
        const message = id === undefined ? undefined : findMessage(this.state.messages, id);
        if (message?.turn === undefined || message.role !== "assistant") return undefined;
        const turn = this.turnFor(message.turn);
        if (!turn.messages.includes(message.id)) turn.messages.push(message.id);
        return turn.root;
      }
    }
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

  private tree(root: string): TurnState[] {
    return [...this.turns.values()].filter((t) => t.root === root);
  }

  private ended(turn: TurnState): boolean {
    if (turn.outcome) return true;
    if (turn.started) return false;
    // Messages written without a worker pool: the turn ends with its messages.
    const tree = this.tree(turn.id);
    const messages = this.treeMessages(tree);
    return messages.length > 0 && tree.every((t) => !t.started) && messages.every((m) => m && m.status !== "streaming");
  }

  private treeMessages(tree: TurnState[]): (Message | undefined)[] {
    return tree.flatMap((t) => t.messages.map((id) => findMessage(this.state.messages, id)));
  }

  private outcomeOf(turn: TurnState): NonNullable<TurnView["outcome"]> {
    if (turn.outcome) return turn.outcome;
    const messages = this.treeMessages(this.tree(turn.id));
    const failed = messages.find((m) => m?.status === "error");
    if (failed) return { status: "failed", ...(failed.error ? { error: failed.error } : {}) };
    if (messages.some((m) => m?.status === "cancelled")) return { status: "cancelled" };
    if (messages.some((m) => m?.status === "interrupted")) return { status: "interrupted" };
    return { status: "completed" };
  }

  private evictTurns(): void {
    if (this.turns.size <= MAX_TRACKED_TURNS) return;
    for (const [id, turn] of this.turns) {
      if (this.turns.size <= MAX_TRACKED_TURNS) return;
      if (this.ended(turn) && !this.listeners.has(turn.root)) this.turns.delete(id);
    }
  }
}

function isOutcome(value: unknown): value is TurnOutcome {
  return value === "completed" || value === "cancelled" || value === "failed" || value === "interrupted";
}

/**
 * What the chat adapters throw when the chat's last message is not a user
 * message (a continuation after a client-side tool output or approval):
 * Threadline answers those with its own events.
 */
export function userMessagesOnly(adapter: string, session: string): ThreadlineError {
  return new ThreadlineError(
    ErrorCode.INVALID_FRAME,
    `${adapter} sends user messages only; answer an agent's client tool calls and approval ` +
      "requests with session.answerTool / session.approve (tool.result / approval events, PROTOCOL.md §17)",
    { session },
  );
}
