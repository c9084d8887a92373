import type { StreamState, Subjects } from "@threadline/protocol";
import type { HistoryReader, StoredMessage } from "@threadline/store";
import { FeedRecord } from "./feed-record.ts";

/**
 * A session's stored events as the gateway delivers them: the store's
 * history reader (`@threadline/store`), filtered to one session and decoded
 * into `FeedRecord`s. Contract: `read(session, after)` yields every event of
 * the session with seq > `after` that was stored when the call started, in
 * seq order and in batches (so callers can send each batch in one go), then
 * ends. Events stored later are the live feed's business.
 */
export interface SessionHistory {
  streamState(): Promise<StreamState>;
  /** The message stored at `seq`, asked of the stream leader; `undefined` when none is stored there. */
  messageAt(seq: number): Promise<Pick<StoredMessage, "subject" | "data"> | undefined>;
  read(session: string, after: number): AsyncIterable<FeedRecord[]>;
}

export interface SessionHistoryHooks {
  /** A stored payload that is not a valid envelope, or whose subject names no author (skipped). */
  onInvalid?: (subject: string, seq: number) => void;
  /** An event whose `from` was replaced by the author its subject pins (`FeedRecord.forgedFrom`). */
  onForged?: (record: FeedRecord) => void;
}

export function sessionHistory(
  reader: HistoryReader,
  subjects: Subjects,
  hooks: SessionHistoryHooks = {},
): SessionHistory {
  return {
    streamState: () => reader.streamState(),
    messageAt: (seq) => reader.messageAt(seq),
    async *read(session, after) {
      for await (const batch of reader.read(subjects.session(session), after)) {
        const records: FeedRecord[] = [];
        for (const m of batch) {
          const record = FeedRecord.decode(session, m.seq, m.subject, m.data);
          if (record) {
            if (record.forgedFrom) hooks.onForged?.(record);
            records.push(record);
          } else hooks.onInvalid?.(m.subject, m.seq);
        }
        if (records.length > 0) yield records;
      }
    },
  };
}
