import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { epochFromStreamCreated, type StreamState, type Subjects } from "@threadline/protocol";
import { FeedRecord } from "./feed-record.ts";

/**
 * Reads a session's stored events from the stream. Contract: `read(session,
 * after)` yields every event of the session with seq > `after` that was
 * stored when the call started, in seq order, then ends. Events stored later
 * are the live feed's business.
 */
export interface HistoryReader {
  streamState(): Promise<StreamState>;
  /**
   * The message stored at `seq`, asked of the stream leader (authoritative,
   * unlike a direct get from a replica); `undefined` when the stream holds
   * none there (never stored, deleted, expired, or lost).
   */
  messageAt(seq: number): Promise<StoredAt | undefined>;
  /** Yields the events in batches (one per fetch), so callers can send each batch in one go. */
  read(session: string, after: number): AsyncIterable<FeedRecord[]>;
}

export interface StoredAt {
  subject: string;
  data: Uint8Array;
}

export interface HistoryReaderOptions {
  stream: string;
  subjects: Subjects;
  /** Messages requested per pull. */
  batch?: number;
  /** Called for stored payloads that are not valid envelopes. */
  onInvalid?: (subject: string, seq: number) => void;
  /** Called for events whose `from` was replaced by the author their subject pins (`FeedRecord.forgedFrom`). */
  onForged?: (record: FeedRecord) => void;
}

/**
 * Uses one short-lived ephemeral pull consumer per read (memory storage, ack
 * none, filtered to the session). Its creation reply says exactly how many
 * events are pending, so the read pulls that many and never waits for an
 * empty fetch to expire. The consumer is deleted afterwards and also expires
 * by itself (`inactive_threshold`) if the gateway dies mid-read.
 */
export function createHistoryReader(
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: HistoryReaderOptions,
): HistoryReader {
  const batch = options.batch ?? 256;
  return {
    async streamState(): Promise<StreamState> {
      const info = await jsm.streams.info(options.stream);
      return {
        epoch: epochFromStreamCreated(info.created),
        firstSeq: info.state.first_seq,
        lastSeq: info.state.last_seq,
      };
    },

    async messageAt(seq: number): Promise<StoredAt | undefined> {
      const m = await jsm.streams.getMessage(options.stream, { seq });
      return m ? { subject: m.subject, data: m.data } : undefined;
    },

    async *read(session: string, after: number): AsyncIterable<FeedRecord[]> {
      const ci = await jsm.consumers.add(options.stream, {
        filter_subject: options.subjects.session(session),
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: 30_000_000_000,
        ...(after === 0
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
      });
      try {
        let remaining = ci.num_pending;
        if (remaining === 0) return;
        const consumer = js.consumers.getConsumerFromInfo(ci);
        while (remaining > 0) {
          const messages = await consumer.fetch({ max_messages: Math.min(remaining, batch), expires: 5_000 });
          let got = 0;
          const records: FeedRecord[] = [];
          for await (const m of messages) {
            got++;
            remaining--;
            const record = FeedRecord.decode(session, m.seq, m.subject, m.data);
            if (record) {
              if (record.forgedFrom) options.onForged?.(record);
              records.push(record);
            } else options.onInvalid?.(m.subject, m.seq);
            if (remaining === 0) break;
          }
          if (got === 0) throw new Error(`history read of ${session} stalled with ${remaining} events pending`);
          if (records.length > 0) yield records;
        }
      } finally {
        jsm.consumers.delete(options.stream, ci.name).catch(() => {
          // inactive_threshold removes it if the delete cannot be sent now.
        });
      }
    },
  };
}
