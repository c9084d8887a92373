import { isFinalTurnStatus, TurnEventType } from "@threadline/protocol";
import type { TimelineRecord } from "./stream-reader.ts";

/** A turn as the session's events tell it (PROTOCOL.md §17). */
export interface TurnHistory {
  id: string;
  /** `pending` (input / turn.request stored), `running` (turn.start), or the `turn.end` status. */
  status: string;
  /** Target pool (`turn.start` / `turn.request` data.agent). */
  agent?: string;
  /** The participant id that published `turn.start` (the agent process). */
  agentParticipant?: string;
  worker?: string;
  parent?: string;
  /** Seq of the input / turn.request that asked for it. */
  requestSeq?: number;
  requestTs?: number;
  startSeq?: number;
  startTs?: number;
  endSeq?: number;
  reason?: string;
  resumes: number;
  /** Seq of the first `cancel` naming it. */
  cancelSeq?: number;
  messages: number;
}

/** A streamed message as its `message.*` events tell it (PROTOCOL.md §18). */
export interface MessageHistory {
  id: string;
  turn?: string;
  role?: string;
  /** `kind:id` of the publisher of `message.start` (or its first event). */
  publisher: string;
  startSeq: number;
  endSeq?: number;
  /** `message.end` status; undefined while open. */
  status?: string;
}

/** A participant seen as an author in the stored events. */
export interface AuthorHistory {
  kind: string;
  id: string;
  events: number;
  lastSeq: number;
  lastTs: number;
}

/**
 * Everything `inspect` derives from a session's stored events, folded one
 * record at a time (memory grows with the number of turns, messages and
 * authors of the session, plus 8 bytes per event for the seq index).
 */
export class SessionHistory {
  events = 0;
  invalid = 0;
  /** `message.*` events (deltas included). */
  messageEvents = 0;
  /** `input` events (each materializes as a user message for clients). */
  inputs = 0;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  lastStored: Date | undefined;
  readonly turns = new Map<string, TurnHistory>();
  readonly messages = new Map<string, MessageHistory>();
  readonly authors = new Map<string, AuthorHistory>();
  /** The session's seqs in increasing order (to count events after a cursor). */
  private readonly seqs: number[] = [];

  add(record: TimelineRecord): void {
    this.seqs.push(record.seq);
    this.firstSeq ??= record.seq;
    this.lastSeq = record.seq;
    this.lastStored = record.stored;
    const e = record.event;
    if (!e) {
      this.invalid++;
      return;
    }
    this.events++;
    const authorKey = `${e.from.kind}:${e.from.id}`;
    const author = this.authors.get(authorKey) ?? {
      kind: e.from.kind,
      id: e.from.id,
      events: 0,
      lastSeq: 0,
      lastTs: 0,
    };
    author.events++;
    author.lastSeq = record.seq;
    author.lastTs = e.ts;
    this.authors.set(authorKey, author);
    const d = (typeof e.data === "object" && e.data !== null ? e.data : {}) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === "string" ? v : undefined);

    if (e.type === "input") this.inputs++;
    if (e.type === "input" || e.type === TurnEventType.REQUEST) {
      const turn = this.turn(e.type === "input" ? e.id : (e.turn ?? e.id));
      turn.requestSeq ??= record.seq;
      turn.requestTs ??= e.ts;
      if (e.type === TurnEventType.REQUEST) {
        turn.agent ??= text(d.agent);
        turn.parent ??= text(d.parent);
      }
      return;
    }
    if (e.type.startsWith("message.")) {
      this.messageEvents++;
      this.message(record, d);
      return;
    }
    if (e.turn === undefined) return;
    if (e.type === TurnEventType.START) {
      const turn = this.turn(e.turn);
      if (turn.status === "pending") turn.status = "running";
      turn.startSeq = record.seq;
      turn.startTs = e.ts;
      turn.agent = text(d.agent) ?? turn.agent;
      turn.agentParticipant = e.from.id;
      turn.worker = text(d.worker);
      turn.parent = text(d.parent) ?? turn.parent;
    } else if (e.type === TurnEventType.RESUMED) {
      const turn = this.turn(e.turn);
      turn.resumes++;
      turn.worker = text(d.worker) ?? turn.worker;
      turn.agentParticipant = e.from.id;
    } else if (e.type === TurnEventType.END) {
      const turn = this.turn(e.turn);
      turn.status = isFinalTurnStatus(d.status) ? d.status : "ended";
      turn.endSeq = record.seq;
      turn.reason = text(d.reason) ?? text(d.error);
    } else if (e.type === "cancel") {
      this.turn(e.turn).cancelSeq ??= record.seq;
    }
  }

  /** Events of the session stored after `seq`. */
  eventsAfter(seq: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.seqs[mid] as number) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return this.seqs.length - lo;
  }

  private turn(id: string): TurnHistory {
    let turn = this.turns.get(id);
    if (!turn) {
      turn = { id, status: "pending", resumes: 0, messages: 0 };
      this.turns.set(id, turn);
    }
    return turn;
  }

  private message(record: TimelineRecord, d: Record<string, unknown>): void {
    const e = record.event;
    if (!e || e.ref === undefined) return;
    let message = this.messages.get(e.ref);
    if (!message) {
      message = { id: e.ref, publisher: `${e.from.kind}:${e.from.id}`, startSeq: record.seq };
      if (e.turn !== undefined) {
        message.turn = e.turn;
        this.turn(e.turn).messages++;
      }
      this.messages.set(e.ref, message);
    }
    if (e.type === "message.start" && typeof d.role === "string") message.role = d.role;
    if (e.type === "message.end") {
      message.endSeq = record.seq;
      message.status = typeof d.status === "string" ? d.status : "complete";
    }
  }
}
