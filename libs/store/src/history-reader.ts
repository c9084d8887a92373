import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
} from "@nats-io/jetstream";
import { ErrorCode, epochFromStreamCreated, type StreamState, ThreadlineError } from "@threadline/protocol";
import { ConsumerPulls } from "./consumer-pulls.ts";
import { natsError } from "./nats-errors.ts";
import { RetryPolicy, retryDelay, sleep } from "./retry.ts";

/** One message as the stream stores it (not decoded: readers decode what they need). */
export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** When the stream stored it, in ms since the epoch (server clock). */
  storedAt: number;
}

/**
 * Reads stored events from the Threadline stream — the one history reader of
 * the gateway, the agent SDK and the CLI.
 *
 * Contract of `read(filter, after)`: yields, in seq order and in batches, every
 * message matching `filter` (a session's `<prefix>.<session>.>`, or any
 * subject filter) with seq > `after` that was stored when the call started,
 * then ends (narrowed by `options`: a start time, headers only). Messages stored later are the live feed's business. A read that
 * cannot go on throws a typed `ThreadlineError` (`UNAVAILABLE` when NATS is
 * away: the caller retries from the last seq it got); breaking out of the
 * iteration releases the server-side resources.
 *
 * On a replicated stream "stored" means stored on the replica that serves
 * the read, which may lag behind the leader by the newest messages: pass
 * `until` when the read must cover a seq the caller knows is stored.
 */
export interface HistoryReader {
  /** The stream's epoch and first/last seq, as the stream leader reports them. */
  streamState(): Promise<StreamState>;
  /**
   * The message stored at `seq`, asked of the stream leader (authoritative,
   * unlike a direct get from a replica); `undefined` when the stream holds
   * none there (never stored, deleted, expired, or lost).
   */
  messageAt(seq: number): Promise<StoredMessage | undefined>;
  read(filter: string, after: number, options?: ReadOptions): AsyncIterable<StoredMessage[]>;
}

/** Narrower reads (both optional; the contract of `read` is otherwise the same). */
export interface ReadOptions {
  /**
   * Start at the first message stored at or after this time (ms since the
   * epoch, the stream leader's clock) instead of right after `after`;
   * messages with seq ≤ `after` are still skipped. Bounds a read by time
   * when the last seq a reader knows may be far back.
   */
  since?: number;
  /** Subjects and stream metadata only: every `data` is empty (a headers-only consumer) — for scans of who wrote, not what. */
  headersOnly?: boolean;
  /**
   * Cover the stream up to this seq, whichever replica serves the read:
   * nats-server may place the read's (R1) consumer on a replica of an R3
   * stream that has not stored the newest messages yet, so after the
   * consumer the stream leader is asked for any further message matching
   * the filter with seq ≤ `until` (`next_by_subj`: one request when nothing
   * was missed, one per missed message otherwise), and those are yielded too
   * — also ones stored after the call started. For readers that must see
   * everything before a message they know is stored (the notifier: the
   * users who wrote before a trigger).
   */
  until?: number;
}

export interface HistoryReaderOptions {
  stream: string;
  /** Most messages requested per pull (and so the largest batch). Default 1024. */
  batch?: number;
  /**
   * Bytes one pull aims at: after the first pull (at most 256 messages), each
   * asks for as many messages as fit in this at the average size read so far
   * (1 to `batch`). Default 1 MiB. A read holds at most two batches: the one
   * it yielded and the next pull in flight.
   */
  batchBytes?: number;
}

/** Messages asked by a read's first pull, before it knows their size. */
const FIRST_PULL = 256;
/** Per-message bytes counted besides data and subject (headers, reply subject), for `batchBytes`. */
const MESSAGE_OVERHEAD = 128;
/** How long one pull waits for the messages the consumer said are pending. */
const FETCH_EXPIRES_MS = 5_000;
/** The server removes a read's consumer after this much inactivity if the reader died mid-read. */
const INACTIVE_THRESHOLD_NS = 30_000_000_000;

/**
 * Uses one short-lived ephemeral pull consumer per read (memory storage, ack
 * none, filtered). Its creation reply says exactly how many messages are
 * pending, so the read pulls that many and never waits for an empty fetch to
 * expire. The next pull is asked as soon as one completes, so it is in
 * flight while the caller handles the batch just yielded (one pull at a time:
 * batches arrive in seq order by construction). The consumer is deleted
 * afterwards and also expires by itself (`inactive_threshold`) if the reader
 * dies mid-read.
 */
export function createHistoryReader(
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: HistoryReaderOptions,
): HistoryReader {
  const batch = options.batch ?? 1024;
  const batchBytes = options.batchBytes ?? 1024 * 1024;
  const { stream } = options;
  return {
    async streamState(): Promise<StreamState> {
      const info = await jsm.streams.info(stream);
      return {
        epoch: epochFromStreamCreated(info.created),
        firstSeq: info.state.first_seq,
        lastSeq: info.state.last_seq,
      };
    },

    async messageAt(seq: number): Promise<StoredMessage | undefined> {
      const m = await jsm.streams.getMessage(stream, { seq });
      return m ? { seq: m.seq, subject: m.subject, data: m.data, storedAt: m.time.getTime() } : undefined;
    },

    async *read(filter: string, after: number, options: ReadOptions = {}): AsyncIterable<StoredMessage[]> {
      const what = `reading ${filter} after ${after}`;
      const ci = await jsm.consumers
        .add(stream, {
          filter_subject: filter,
          ack_policy: AckPolicy.None,
          mem_storage: true,
          num_replicas: 1,
          inactive_threshold: INACTIVE_THRESHOLD_NS,
          ...(options.headersOnly ? { headers_only: true } : {}),
          ...startPosition(after, options.since),
        })
        .catch((error: unknown) => {
          throw natsError(what, error);
        });
      let failed = false;
      /** The last seq yielded (or skipped as before `after`): where the leader's top-up starts. */
      let last = after;
      /** Messages received and their bytes, for the size of the next pull. */
      let received = 0;
      let receivedBytes = 0;
      const pulls = new ConsumerPulls(js, stream, ci.name, what);
      let deleted: Promise<boolean> | undefined;
      const deleteConsumer = () => jsm.consumers.delete(stream, ci.name).catch(() => false);
      /** One pull of `count` messages (≤ those pending): resolves with what it got, in seq order. */
      const pull = async (count: number): Promise<{ got: StoredMessage[]; count: number }> => {
        const messages = await pulls.pull(count, FETCH_EXPIRES_MS);
        received += messages.length;
        for (const m of messages) receivedBytes += m.data.byteLength + m.subject.length + MESSAGE_OVERHEAD;
        // A read started by time may begin before `after`: those are not the caller's.
        const got =
          messages[0] !== undefined && messages[0].seq <= after ? messages.filter((m) => m.seq > after) : messages;
        return { got, count: messages.length };
      };
      const nextPull = (remaining: number) => {
        const size = received === 0 ? FIRST_PULL : Math.floor(batchBytes / (receivedBytes / received));
        const pending = pull(Math.min(remaining, batch, Math.max(1, size)));
        // Awaited below; this keeps a pull abandoned with the read (the caller broke out) from being unhandled.
        pending.catch(() => {});
        return pending;
      };
      try {
        let remaining = ci.num_pending;
        let inFlight = remaining > 0 ? nextPull(remaining) : undefined;
        while (inFlight) {
          let result: { got: StoredMessage[]; count: number };
          try {
            result = await inFlight;
          } catch (error) {
            failed = true;
            throw error;
          }
          if (result.count === 0) {
            failed = true;
            throw new ThreadlineError(ErrorCode.UNAVAILABLE, `${what}: stalled with ${remaining} messages pending`);
          }
          remaining -= result.count;
          // Asked before the batch is yielded: the caller's work on it overlaps the next round trip.
          inFlight = remaining > 0 ? nextPull(remaining) : undefined;
          // Everything pending was received: delete the consumer now, so that round trip overlaps the
          // caller's work on the last batch instead of following it.
          if (remaining === 0) deleted ??= deleteConsumer();
          const { got } = result;
          if (got.length > 0) {
            last = Math.max(last, got[got.length - 1]!.seq);
            yield got;
          }
        }
      } finally {
        // Awaited (one round trip) so a finished or abandoned read leaves no consumer behind; after a
        // failure NATS may be away, so it is not awaited and inactive_threshold removes the consumer.
        pulls.close();
        deleted ??= deleteConsumer();
        if (!failed) await deleted;
      }
      if (options.until === undefined) return;
      // The consumer's replica may have lacked the newest messages: the leader has them all. STREAM.MSG.GET
      // (not a direct get, which any replica answers) with `next_by_subj` (nats-server ≥ 2.9, wildcards
      // allowed) returns the first message matching the filter at or after `seq`; nats.js types the
      // request with `seq` or `last_by_subj` only.
      for (;;) {
        const next = await jsm.streams
          .getMessage(stream, { next_by_subj: filter, seq: last + 1 } as unknown as MsgRequest)
          .catch((error: unknown) => {
            throw natsError(what, error);
          });
        if (!next || next.seq > options.until) return;
        last = next.seq;
        const storedAt = next.time.getTime();
        if (options.since !== undefined && storedAt < options.since) continue;
        const data = options.headersOnly ? new Uint8Array(0) : next.data;
        yield [{ seq: next.seq, subject: next.subject, data, storedAt }];
      }
    },
  };
}

/** The consumer's start: right after `after`, or at `since` when a time is given. */
function startPosition(after: number, since: number | undefined): Partial<ConsumerConfig> {
  if (since !== undefined) {
    return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Math.max(0, since)).toISOString() };
  }
  return after === 0
    ? { deliver_policy: DeliverPolicy.All }
    : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 };
}

/**
 * `reader.read(filter, after)`, resumed after the last message it yielded
 * when a read fails with a retryable error (NATS reconnecting, a node
 * restarting: `UNAVAILABLE`), waiting `RetryPolicy.historyRead` between
 * attempts; after `maxAttempts` consecutive failures the last error is
 * thrown. Nothing is yielded twice and nothing is skipped: each attempt
 * starts right after the last seq yielded. For readers without their own
 * retry loop (the agent SDK, the CLI); the gateway's catch-up has its own.
 */
export async function* readResuming(
  reader: HistoryReader,
  filter: string,
  after: number,
  maxAttempts = 8,
): AsyncIterable<StoredMessage[]> {
  let last = after;
  let failures = 0;
  for (;;) {
    try {
      for await (const batch of reader.read(filter, last)) {
        failures = 0;
        last = batch[batch.length - 1]?.seq ?? last;
        yield batch;
      }
      return;
    } catch (error) {
      if (!(error instanceof ThreadlineError && error.retryable) || ++failures >= maxAttempts) throw error;
      await sleep(retryDelay(failures, RetryPolicy.historyRead));
    }
  }
}
