import {
  emptyMessageState,
  findMessage,
  INPUT_EVENT_TYPE,
  MAX_MESSAGE_DELTA_BYTES,
  type Message,
  type MessageAppendData,
  MessageEventType,
  type MessageState,
  messageSnapshotData,
  type SessionEvent,
  stepMessageEvent,
  utf8Length,
} from "@threadline/protocol";
import { FeedRecord } from "./feed-record.ts";

/** Bounds of one compacting pass (PROTOCOL.md §8.5). */
export interface CompactorLimits {
  /** Records held back in the current run; at the limit the run is released early (still exact). */
  maxHeldRecords: number;
  /** Bytes of records held back in the current run; same behaviour. */
  maxHeldBytes: number;
  /** Open messages tracked at once; messages started past it are replayed in full. */
  maxTrackedMessages: number;
  /** UTF-8 text bytes of all tracked messages; a message that pushes past it is released and replayed in full from there. */
  maxTrackedTextBytes: number;
  /** Message ids remembered (ended or not tracked); past it the rest of the pass is replayed in full. */
  maxRememberedIds: number;
}

export const COMPACTOR_LIMITS: Readonly<CompactorLimits> = Object.freeze({
  maxHeldRecords: 4096,
  maxHeldBytes: 1024 * 1024,
  maxTrackedMessages: 256,
  maxTrackedTextBytes: 4 * 1024 * 1024,
  maxRememberedIds: 65_536,
});

/**
 * Compact catch-up for one replay pass of one attachment (PROTOCOL.md §8.5).
 * Records go in in seq order (`push`); what comes out, in seq order, is what
 * the socket gets.
 *
 * A **run** is a maximal sequence of consecutive records of the pass that
 * are events of one tracked message. Runs are held back and released when
 * any other record arrives, at the limits, or at `finish()`:
 * - a run holding the message's first event (`message.start`, or a stored
 *   `message.snapshot`) becomes one `message.snapshot` at the run's last seq
 *   — a message streamed without interruption is one event at the seq of
 *   its `message.end`, an in-flight one a snapshot followed by live deltas;
 * - any other run goes out as is, except that consecutive `message.append`
 *   deltas of one part are merged into one append at the last one's seq
 *   (each merged delta ≤ `MAX_MESSAGE_DELTA_BYTES`).
 * Everything else — other event types, events of messages that started
 * before the pass (their state is the client's), events the message
 * reducer rejects — goes out unchanged at its own seq.
 *
 * Exactness: after any record it releases, the client holds the
 * materialized state of every event up to that seq, so a client resuming
 * from any delivered seq gets what a full replay would have given.
 * A synthesized event carries the id of the stored event at its seq.
 */
export class MessageCompactor {
  private state: MessageState = emptyMessageState();
  /** Ids of messages that ended (and were dropped from `state`), were not tracked, or are user inputs. */
  private readonly remembered = new Set<string>();
  private trackedTextBytes = 0;
  private run: { id: string; first: boolean; records: FeedRecord[]; bytes: number } | undefined;
  private passthrough = false;

  constructor(
    private readonly session: string,
    private readonly limits: CompactorLimits = COMPACTOR_LIMITS,
  ) {}

  /** Takes the next replayed record; returns the records to send now (possibly none). */
  push(record: FeedRecord): FeedRecord[] {
    const out: FeedRecord[] = [];
    if (this.passthrough) {
      out.push(record);
      return out;
    }
    const event = record.event;
    if (event.type === INPUT_EVENT_TYPE) this.remember(event.id);
    const id = messageId(event);
    if (id === undefined) return this.raw(record, out);
    const tracked = findMessage(this.state.messages, id);
    const opens = event.type === MessageEventType.START || event.type === MessageEventType.SNAPSHOT;
    if (!tracked) {
      if (!opens || this.remembered.has(id)) return this.raw(record, out);
      if (this.state.messages.length >= this.limits.maxTrackedMessages) {
        this.remember(id);
        return this.raw(record, out);
      }
    }
    const { state, outcome } = stepMessageEvent(this.state, record);
    if (outcome !== "applied") return this.raw(record, out);
    this.state = state;
    const after = findMessage(state.messages, id)!;
    this.trackedTextBytes += after.textBytes - (tracked?.textBytes ?? 0);
    if (this.run && this.run.id !== id) this.release(out);
    // Only a run that holds the message.start becomes a snapshot; a message opened by a stored
    // snapshot (an upsert of a message the client may hold from before the pass) goes out as is.
    this.run ??= { id, first: !tracked && event.type === MessageEventType.START, records: [], bytes: 0 };
    this.run.records.push(record);
    this.run.bytes += record.size;
    if (this.trackedTextBytes > this.limits.maxTrackedTextBytes) {
      // Too much text tracked: release this message and replay the rest of it in full.
      this.release(out);
      this.untrack(id);
    } else if (
      after.status !== "streaming" ||
      this.run.records.length >= this.limits.maxHeldRecords ||
      this.run.bytes >= this.limits.maxHeldBytes
    ) {
      this.release(out);
    }
    return out;
  }

  /** Releases the held run (end of the pass: the replay reached live). */
  finish(): FeedRecord[] {
    const out: FeedRecord[] = [];
    this.release(out);
    return out;
  }

  private raw(record: FeedRecord, out: FeedRecord[]): FeedRecord[] {
    this.release(out);
    out.push(record);
    return out;
  }

  private release(out: FeedRecord[]): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    const message = findMessage(this.state.messages, run.id)!;
    const last = run.records.at(-1)!;
    if (run.first) out.push(this.snapshot(message, last));
    else mergeAppends(this.session, run.records, out);
    if (message.status !== "streaming") this.untrack(run.id);
  }

  private untrack(id: string): void {
    const message = findMessage(this.state.messages, id);
    if (message) {
      this.trackedTextBytes -= message.textBytes;
      this.state = { ...this.state, messages: this.state.messages.filter((m) => m.id !== id) };
    }
    this.remember(id);
  }

  private remember(id: string): void {
    this.remembered.add(id);
    if (this.remembered.size > this.limits.maxRememberedIds) this.passthrough = true;
  }

  private snapshot(message: Message, at: FeedRecord): FeedRecord {
    const event: SessionEvent = {
      id: at.event.id,
      type: MessageEventType.SNAPSHOT,
      from: at.event.from,
      ts: at.event.ts,
      ref: message.id,
      data: messageSnapshotData(message),
    };
    if (message.turn !== undefined) event.turn = message.turn;
    return new FeedRecord(this.session, at.seq, at.subject, event, undefined);
  }
}

function messageId(event: SessionEvent): string | undefined {
  if (!event.type.startsWith("message.")) return undefined;
  if (typeof event.ref === "string") return event.ref;
  const data = event.data as { id?: unknown } | undefined;
  return typeof data?.id === "string" ? data.id : undefined;
}

/** Emits `records`, merging consecutive appends to the same part (and type) into one at the last one's seq. */
function mergeAppends(session: string, records: FeedRecord[], out: FeedRecord[]): void {
  let group: FeedRecord[] = [];
  let groupBytes = 0;
  const flush = () => {
    if (group.length === 1) out.push(group[0]!);
    else if (group.length > 1) {
      const last = group.at(-1)!;
      const first = group[0]!.event.data as MessageAppendData;
      const data: MessageAppendData = {
        part: first.part,
        delta: group.map((r) => (r.event.data as MessageAppendData).delta).join(""),
      };
      if (first.type !== undefined) data.type = first.type;
      out.push(new FeedRecord(session, last.seq, last.subject, { ...last.event, data }, undefined));
    }
    group = [];
    groupBytes = 0;
  };
  for (const record of records) {
    if (record.event.type !== MessageEventType.APPEND) {
      flush();
      out.push(record);
      continue;
    }
    const data = record.event.data as MessageAppendData;
    const bytes = utf8Length(data.delta);
    const head = group[0]?.event.data as MessageAppendData | undefined;
    if (
      head !== undefined &&
      (head.part !== data.part ||
        (head.type ?? "text") !== (data.type ?? "text") ||
        groupBytes + bytes > MAX_MESSAGE_DELTA_BYTES)
    ) {
      flush();
    }
    group.push(record);
    groupBytes += bytes;
  }
  flush();
}
