import type { SessionRecord } from "@threadline/protocol";

/**
 * What the demo folds from a session's events itself, in seq order: each
 * turn's structured progress (PROTOCOL.md §17 `progress`, folded by step),
 * the raw timeline and the support desk's conversations. Messages, active
 * turns, open calls and the owner come from the client SDK's views
 * (`session.messages`, `session.control`). Pure and idempotent under replay:
 * a record at or below `lastSeq` is ignored.
 */
export interface ProgressStep {
  step: string;
  label: string;
  status: "running" | "done" | "failed" | "skipped";
  detail?: string;
}

export interface TurnView {
  id: string;
  agent?: string;
  parent?: string;
  status: "running" | "completed" | "cancelled" | "failed" | "interrupted";
  steps: ProgressStep[];
  /** Seq of the turn's first event (where its card goes in the chat). */
  seq: number;
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
  /** When the newest request for a human was made (ms since the epoch): a hand back after it clears the flag. */
  askedAt?: number;
  seq: number;
}

export interface SessionState {
  lastSeq: number;
  /** Turns that started or reported progress, with their steps. */
  turns: TurnView[];
  /** The newest events, at most `TIMELINE_LIMIT`. */
  timeline: TimelineEntry[];
  /** Support desk sessions only: the conversations, newest first. */
  conversations: Conversation[];
}

/** The timeline panel keeps the newest 500 events; older ones drop off the front. */
export const TIMELINE_LIMIT = 500;

export const EMPTY_SESSION: SessionState = { lastSeq: 0, turns: [], timeline: [], conversations: [] };

type Data = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

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
    case "state": {
      // A shared state op: object, op and path (`agent-checklist set items.2.status`).
      const path = Array.isArray(data.path) ? data.path.join(".") : "";
      return [str(data.object), str(data.op), path].filter(Boolean).join(" ");
    }
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
  if (i < 0) return [...turns, { id, status: "running", steps: [], seq, ...patch }];
  const next = [...turns];
  next[i] = { ...turns[i]!, ...patch };
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

  switch (event.type) {
    case "turn.start":
    case "turn.resumed": {
      if (!event.turn) break;
      const parent = str(data.parent);
      next.turns = upsertTurn(next.turns, event.turn, seq, {
        status: "running",
        ...(str(data.agent) ? { agent: str(data.agent) } : {}),
        ...(parent ? { parent } : {}),
      });
      break;
    }
    case "turn.end": {
      if (!event.turn) break;
      const status = str(data.status);
      const final =
        status === "cancelled" || status === "failed" || status === "interrupted" ? status : ("completed" as const);
      next.turns = upsertTurn(next.turns, event.turn, seq, { status: final }).map((t) =>
        // Steps still running when the turn ended did not finish.
        t.id === event.turn && final !== "completed"
          ? { ...t, steps: t.steps.map((s) => (s.status === "running" ? { ...s, status: "skipped" as const } : s)) }
          : t,
      );
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
          // Set by the triage agent when it asks for a human (a handoff request in the session).
          wantsHuman: (prev?.wantsHuman ?? false) || data.wantsHuman === true,
          ...(data.wantsHuman === true ? { askedAt: event.ts } : prev?.askedAt ? { askedAt: prev.askedAt } : {}),
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
