import type { SessionRecord } from "@threadline/protocol";

/**
 * The demo's view of one session, folded from its events in seq order
 * (PROTOCOL.md §17 turns and progress, §18 messages). Pure and idempotent
 * under replay: a record at or below `lastSeq` is ignored, so a resumed or
 * refreshed page that sees an event twice renders it once.
 */
export interface ChatMessage {
  id: string;
  role: "assistant" | "user" | "system";
  author: { kind: string; id: string; name?: string };
  text: string;
  status: "streaming" | "complete" | "cancelled" | "interrupted" | "error";
  turn?: string;
  seq: number;
}

export interface ProgressStep {
  step: string;
  label: string;
  status: "running" | "done" | "failed" | "skipped";
  detail?: string;
}

export interface TurnView {
  id: string;
  agent?: string;
  worker?: string;
  parent?: string;
  status: "pending" | "running" | "completed" | "cancelled" | "failed" | "interrupted";
  steps: ProgressStep[];
  seq: number;
}

export interface PendingToolCall {
  call: string;
  name: string;
  args: unknown;
  turn?: string;
}

export interface TimelineEntry {
  seq: number;
  author: string;
  type: string;
  summary: string;
}

/** One row of a support desk: a `support.session` event per customer input (see ../directory.ts). */
export interface Conversation {
  session: string;
  user: string;
  lastText: string;
  wantsHuman: boolean;
  seq: number;
}

export interface SessionState {
  lastSeq: number;
  messages: ChatMessage[];
  turns: TurnView[];
  toolCalls: PendingToolCall[];
  /** The operator who owns the session (handoff take), or null while agents own it. */
  owner: { kind: string; id: string } | null;
  /** A handoff request is open (asked for a human, not yet taken). */
  humanRequested: boolean;
  /** The newest events, at most `TIMELINE_LIMIT`. */
  timeline: TimelineEntry[];
  /** Support desk sessions only: the conversations, newest first. */
  conversations: Conversation[];
}

/** The timeline panel keeps the newest 500 events; older ones drop off the front. */
export const TIMELINE_LIMIT = 500;

export const EMPTY_SESSION: SessionState = {
  lastSeq: 0,
  messages: [],
  turns: [],
  toolCalls: [],
  owner: null,
  humanRequested: false,
  timeline: [],
  conversations: [],
};

type Data = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function authorOf(value: unknown, fallback: { kind: string; id: string }): ChatMessage["author"] {
  if (value && typeof value === "object") {
    const a = value as Data;
    const id = str(a.id);
    if (id) return { kind: str(a.kind) ?? fallback.kind, id, ...(str(a.name) ? { name: str(a.name) } : {}) };
  }
  if (typeof value === "string") return { kind: fallback.kind, id: value };
  return fallback;
}

function textOfParts(parts: unknown): string {
  if (!Array.isArray(parts)) return "";
  return parts
    .map((p) => (p && typeof p === "object" && (p as Data).type === "text" ? (str((p as Data).text) ?? "") : ""))
    .join("");
}

function summarize(type: string, data: Data): string {
  switch (type) {
    case "input":
      return str(data.text) ?? "";
    case "message.append":
      return JSON.stringify(data.delta ?? "");
    case "progress":
      return `${str(data.step) ?? ""} ${str(data.status) ?? ""}`;
    case "turn.end":
    case "message.end":
      return str(data.status) ?? "";
    case "turn.start":
    case "turn.request":
      return str(data.agent) ?? "";
    case "handoff":
      return str(data.action) ?? "";
    case "presence.join":
    case "presence.update":
    case "presence.leave":
      return `${str(data.kind) ?? ""}:${str(data.id) ?? ""} ${str(data.status) ?? str(data.reason) ?? ""}`;
    default:
      return "";
  }
}

function upsertTurn(turns: TurnView[], id: string, seq: number, patch: Partial<TurnView>): TurnView[] {
  const i = turns.findIndex((t) => t.id === id);
  if (i < 0) return [...turns, { id, status: "pending", steps: [], seq, ...patch }];
  const next = [...turns];
  next[i] = { ...turns[i]!, ...patch };
  return next;
}

function updateMessage(messages: ChatMessage[], id: string, fn: (m: ChatMessage) => ChatMessage): ChatMessage[] {
  const i = messages.findIndex((m) => m.id === id);
  if (i < 0) return messages;
  const next = [...messages];
  next[i] = fn(messages[i]!);
  return next;
}

/** Applies one record; returns the same object when the record was already applied. */
export function applyRecord(state: SessionState, record: SessionRecord): SessionState {
  if (record.seq <= state.lastSeq) return state;
  const { event, seq } = record;
  const data = (event.data && typeof event.data === "object" ? event.data : {}) as Data;
  const author = `${event.from.kind}:${event.from.id}`;
  const timeline = [...state.timeline, { seq, author, type: event.type, summary: summarize(event.type, data) }];
  if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT);
  const next: SessionState = { ...state, lastSeq: seq, timeline };
  const from = { kind: event.from.kind, id: event.from.id };

  switch (event.type) {
    case "input": {
      const text = str(data.text) ?? textOfParts(data.parts);
      next.messages = [
        ...next.messages,
        { id: event.id, role: "user", author: from, text, status: "complete", turn: event.id, seq },
      ];
      // A user's input starts a turn whose id is the input's id (PROTOCOL.md §17); an operator's does not.
      if (event.from.kind === "user") next.turns = upsertTurn(next.turns, event.id, seq, {});
      break;
    }
    case "message.start": {
      const id = str(data.id) ?? str(event.ref) ?? event.id;
      if (next.messages.some((m) => m.id === id)) break;
      const role = data.role === "user" || data.role === "system" ? data.role : "assistant";
      next.messages = [
        ...next.messages,
        {
          id,
          role,
          author: authorOf(data.author, from),
          text: "",
          status: "streaming",
          ...(event.turn ? { turn: event.turn } : {}),
          seq,
        },
      ];
      break;
    }
    case "message.append": {
      const delta = str(data.delta);
      if (!event.ref || delta === undefined) break;
      next.messages = updateMessage(next.messages, event.ref, (m) =>
        m.status === "streaming" && data.type !== "reasoning" ? { ...m, text: m.text + delta } : m,
      );
      break;
    }
    case "message.update": {
      if (!event.ref) break;
      next.messages = updateMessage(next.messages, event.ref, (m) => ({ ...m, text: textOfParts(data.parts) }));
      break;
    }
    case "message.end": {
      if (!event.ref) break;
      const status = str(data.status);
      const final =
        status === "cancelled" || status === "interrupted" || status === "error" ? status : ("complete" as const);
      next.messages = updateMessage(next.messages, event.ref, (m) => ({ ...m, status: final }));
      break;
    }
    case "message.snapshot": {
      const id = str(data.id) ?? str(event.ref);
      if (!id) break;
      const status = str(data.status);
      const message: ChatMessage = {
        id,
        role: data.role === "user" || data.role === "system" ? data.role : "assistant",
        author: authorOf(data.author, from),
        text: textOfParts(data.parts),
        status:
          status === "cancelled" || status === "interrupted" || status === "error" || status === "streaming"
            ? status
            : "complete",
        ...(event.turn ? { turn: event.turn } : {}),
        seq,
      };
      const exists = next.messages.some((m) => m.id === id);
      next.messages = exists ? updateMessage(next.messages, id, () => message) : [...next.messages, message];
      break;
    }
    case "turn.start":
    case "turn.resumed": {
      if (!event.turn) break;
      const parent = str(data.parent);
      next.turns = upsertTurn(next.turns, event.turn, seq, {
        status: "running",
        ...(str(data.agent) ? { agent: str(data.agent) } : {}),
        ...(str(data.worker) ? { worker: str(data.worker) } : {}),
        ...(parent ? { parent } : {}),
      });
      break;
    }
    case "turn.end": {
      if (!event.turn) break;
      const status = str(data.status);
      const final =
        status === "cancelled" || status === "failed" || status === "interrupted" ? status : ("completed" as const);
      next.turns = upsertTurn(next.turns, event.turn, seq, { status: final });
      // Steps still running when the turn ended did not finish.
      next.turns = next.turns.map((t) =>
        t.id === event.turn && final !== "completed"
          ? { ...t, steps: t.steps.map((s) => (s.status === "running" ? { ...s, status: "skipped" } : s)) }
          : t,
      );
      next.toolCalls = next.toolCalls.filter((c) => c.turn !== event.turn);
      break;
    }
    case "progress": {
      const step = str(data.step);
      const status = str(data.status);
      if (!event.turn || !step) break;
      const stepStatus =
        status === "done" || status === "failed" || status === "skipped" ? status : ("running" as const);
      const turn = next.turns.find((t) => t.id === event.turn);
      const steps = [...(turn?.steps ?? [])];
      const i = steps.findIndex((s) => s.step === step);
      const value: ProgressStep = {
        step,
        label: str(data.label) ?? (i >= 0 ? steps[i]!.label : step),
        status: stepStatus,
        ...(str(data.detail) ? { detail: str(data.detail) } : {}),
      };
      if (i >= 0) steps[i] = value;
      else steps.push(value);
      next.turns = upsertTurn(next.turns, event.turn, seq, { steps });
      break;
    }
    case "tool.call": {
      const call = str(data.call) ?? str(event.ref);
      const name = str(data.name);
      if (!call || !name || next.toolCalls.some((c) => c.call === call)) break;
      next.toolCalls = [
        ...next.toolCalls,
        { call, name, args: data.args, ...(event.turn ? { turn: event.turn } : {}) },
      ];
      break;
    }
    case "tool.result":
    case "call.closed": {
      const call = str(data.call) ?? str(event.ref);
      next.toolCalls = next.toolCalls.filter((c) => c.call !== call);
      break;
    }
    case "handoff": {
      const action = str(data.action);
      if (action === "request") next.humanRequested = true;
      else if (action === "take" && event.from.kind === "operator") {
        next.owner = from;
        next.humanRequested = false;
      } else if (action === "release" && event.from.kind === "operator") next.owner = null;
      break;
    }
    case "support.session": {
      const session = str(data.session);
      if (!session) break;
      const text = str(data.text) ?? "";
      const prev = next.conversations.find((c) => c.session === session);
      next.conversations = [
        {
          session,
          user: str(data.user) ?? "?",
          lastText: text,
          wantsHuman: (prev?.wantsHuman ?? false) || /\bhuman\b/i.test(text),
          seq,
        },
        ...next.conversations.filter((c) => c.session !== session),
      ];
      break;
    }
    default:
      break;
  }
  return next;
}

/** The turns that can still be stopped (started, not ended). */
export function runningTurns(state: SessionState): TurnView[] {
  return state.turns.filter((t) => t.status === "running" || (t.status === "pending" && t.agent !== undefined));
}
