import { isPosition, type Position, type StreamState } from "@threadline/protocol";
import type { CursorStore } from "./cursor-store.ts";
import type { HistoryReader, ReadOptions, StoredMessage } from "./history-reader.ts";

/**
 * In-memory implementations of the store's interfaces, for unit tests of the
 * code above them (attach, resume, catch-up) without a nats-server. They keep
 * the interfaces' contracts (seq order, `read` ends at what was stored when
 * it started, `messageAt` answers `undefined` for a removed seq); integration
 * tests use the real store on a real nats-server.
 */

/** Whether a NATS subject matches a filter with `*` (one token) and `>` (the rest) wildcards. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

export interface MemoryStreamOptions {
  /** The stream's epoch. Default `"memory"`. */
  epoch?: string;
  /** The largest batch `read` yields. Default 256. */
  batch?: number;
}

/** A stream in memory: `append` stores, `remove` loses or expires a message, `recreate` starts a new epoch. */
export class MemoryStream implements HistoryReader {
  private readonly messages = new Map<number, StoredMessage>();
  private lastSeq = 0;
  private firstSeq = 1;
  private epoch: string;
  private readonly batch: number;

  constructor(options: MemoryStreamOptions = {}) {
    this.epoch = options.epoch ?? "memory";
    this.batch = options.batch ?? 256;
  }

  /** Stores a message at the next seq. */
  append(subject: string, data: Uint8Array): StoredMessage {
    const message = { seq: ++this.lastSeq, subject, data, storedAt: Date.now() };
    this.messages.set(message.seq, message);
    return message;
  }

  /** Removes the message at `seq` (lost, or expired when it is the oldest). */
  remove(seq: number): void {
    this.messages.delete(seq);
    while (this.firstSeq <= this.lastSeq && !this.messages.has(this.firstSeq)) this.firstSeq++;
  }

  /** A new stream instance under `epoch`: empty, seqs from 1. */
  recreate(epoch: string): void {
    this.messages.clear();
    this.epoch = epoch;
    this.lastSeq = 0;
    this.firstSeq = 1;
  }

  async streamState(): Promise<StreamState> {
    return { epoch: this.epoch, firstSeq: this.firstSeq, lastSeq: this.lastSeq };
  }

  async messageAt(seq: number): Promise<StoredMessage | undefined> {
    return this.messages.get(seq);
  }

  async *read(filter: string, after: number, options: ReadOptions = {}): AsyncIterable<StoredMessage[]> {
    const end = this.lastSeq;
    let batch: StoredMessage[] = [];
    for (let seq = after + 1; seq <= end; seq++) {
      const m = this.messages.get(seq);
      if (!m || !subjectMatches(filter, m.subject)) continue;
      if (options.since !== undefined && m.storedAt < options.since) continue;
      batch.push(options.headersOnly ? { ...m, data: new Uint8Array(0) } : m);
      if (batch.length === this.batch) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
}

/** Device cursors in memory, with the real store's rules (forward only per epoch; no coalescing needed). */
export class MemoryCursorStore implements CursorStore {
  private readonly cursors = new Map<string, Position>();

  async get(session: string, user: string, device: string): Promise<Position | undefined> {
    const value = this.cursors.get(`${session}.${user}.${device}`);
    return value && isPosition(value) ? { ...value } : undefined;
  }

  set(session: string, user: string, device: string, position: Position): void {
    const key = `${session}.${user}.${device}`;
    const current = this.cursors.get(key);
    if (current && current.epoch === position.epoch && current.seq >= position.seq) return;
    this.cursors.set(key, { epoch: position.epoch, seq: position.seq });
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
