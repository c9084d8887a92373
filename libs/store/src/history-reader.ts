import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type StoredMsg,
} from "@nats-io/jetstream";
import { ErrorCode, epochFromStreamCreated, type StreamState, ThreadlineError } from "@threadline/protocol";
import { ConsumerPulls, type PullResult } from "./consumer-pulls.ts";
import { HedgeBudget, hedged } from "./hedge.ts";
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
 * subject filter) with seq > `after` that was stored when the call started
 * (on the stream leader: up to the last matching message the leader held
 * then, whichever replica serves the consumer), then ends (narrowed by
 * `options`: a start time, headers only). Messages stored later are the live
 * feed's business, though a read may include some. A read that cannot go on
 * throws a typed `ThreadlineError` (`UNAVAILABLE` when NATS is away: the
 * caller retries from the last seq it got); breaking out of the iteration
 * releases the server-side resources. Pass `until` when the read must also
 * cover messages stored after it started, up to a seq the caller knows.
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
   * Cover the stream up to this seq, also messages stored after the call
   * started: after the read's own end the stream leader is asked for any
   * further message matching the filter with seq ≤ `until` (`next_by_subj`:
   * one request when there is none, one per message otherwise). For readers
   * that must see everything before a message they know is stored (the
   * notifier: the users who wrote before a trigger, which may be stored
   * after the read starts).
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
/** How long a pull that finds nothing available waits for a message the read knows is stored (a lagging replica). */
const FETCH_EXPIRES_MS = 5_000;
/** The server removes a read's consumer after this much inactivity if the reader died mid-read. */
const INACTIVE_THRESHOLD_NS = 30_000_000_000;
/**
 * A read's consumer create not answered within this long, ms, gets a second
 * create alongside (hedge.ts: after a node dies without a shutdown, about a
 * third of creates are placed on it and never answered); at most
 * {@link CREATE_HEDGES} of a reader's reads hedge at once, so creates slow for
 * another reason (an overloaded server) are not doubled.
 */
export const CREATE_HEDGE_MS = 500;
const CREATE_HEDGES = 4;

/**
 * A read first asks the stream leader for the last message matching the
 * filter (`last_by_subj`): that seq is where the read ends, and a read with
 * nothing after `after` ends there, without a consumer. Otherwise it uses one
 * short-lived ephemeral pull consumer (memory storage, ack none, filtered)
 * and pulls until it has passed that seq. The consumer's `num_pending` is not
 * trusted: nats-server 2.9 miscounts it for wildcard filters — more than are
 * stored (a read waiting for messages that do not exist) or fewer (a read
 * ending early) — and later versions had such bugs too. Pulls are `no_wait`,
 * so asking for more than is stored costs nothing. The next pull is asked as
 * soon as one completes, so it is in flight while the caller handles the
 * batch just yielded (one pull at a time: batches arrive in seq order by
 * construction). A pull that finds nothing while the read has not reached its
 * end (the consumer's replica lags, or a message was removed meanwhile) asks
 * the leader for the next matching message itself (`next_by_subj`). The
 * consumer is deleted afterwards and also expires by itself
 * (`inactive_threshold`) if the reader dies mid-read.
 */
export function createHistoryReader(
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: HistoryReaderOptions,
): HistoryReader {
  const batch = options.batch ?? 1024;
  const batchBytes = options.batchBytes ?? 1024 * 1024;
  const { stream } = options;
  const hedges = new HedgeBudget(CREATE_HEDGES);

  /** STREAM.MSG.GET from the stream leader (authoritative, unlike a direct get any replica answers). */
  const leaderGet = async (request: MsgRequest, what: string): Promise<StoredMessage | undefined> =>
    storedMessage(
      await jsm.streams.getMessage(stream, request).catch((error: unknown) => {
        throw natsError(what, error);
      }),
    );
  /**
   * The first message matching `filter` at or after `seq`: `next_by_subj` (nats-server ≥ 2.9, wildcards
   * allowed); nats.js types the request with `seq` or `last_by_subj` only.
   */
  const nextMatching = (filter: string, seq: number, what: string) =>
    leaderGet({ next_by_subj: filter, seq } as unknown as MsgRequest, what);

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
      return storedMessage(await jsm.streams.getMessage(stream, { seq }));
    },

    async *read(filter: string, after: number, options: ReadOptions = {}): AsyncIterable<StoredMessage[]> {
      const what = `reading ${filter} after ${after}`;
      /** Where the read ends: the last matching message stored when it started (0: none). */
      const end = (await leaderGet({ last_by_subj: filter }, what))?.seq ?? 0;
      /** The last seq yielded (or skipped as before `after`). */
      let last = after;
      if (end > after) {
        for await (const got of readToEnd(filter, after, end, options, what)) {
          const fresh = got[0]!.seq > last ? got : got.filter((m) => m.seq > last);
          if (fresh.length === 0) continue;
          last = fresh[fresh.length - 1]!.seq;
          yield fresh;
        }
      }
      if (options.until === undefined) return;
      // Messages stored after the read started, up to a seq the caller knows is stored: from the leader.
      while (last < options.until) {
        const next = await nextMatching(filter, last + 1, what);
        if (!next || next.seq > options.until) return;
        last = next.seq;
        if (options.since !== undefined && next.storedAt < options.since) continue;
        yield [shaped(next, options)];
      }
    },
  };

  /**
   * A read up to `end` (> `after`): what the consumer delivers (maybe also
   * seqs ≤ `after` when started by time), in seq order, until it has passed
   * `end`. When a pull finds nothing available before `end` (the consumer's
   * replica lags, or messages were removed meanwhile), the next matching
   * message comes from the leader, and pulling goes on after it; the read
   * ends when the leader has none up to `end`.
   */
  async function* readToEnd(
    filter: string,
    after: number,
    end: number,
    options: ReadOptions,
    what: string,
  ): AsyncIterable<StoredMessage[]> {
    const config: Partial<ConsumerConfig> = {
      filter_subject: filter,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: INACTIVE_THRESHOLD_NS,
      ...(options.headersOnly ? { headers_only: true } : {}),
      ...startPosition(after, options.since),
    };
    const ci = await hedged(() => jsm.consumers.add(stream, config), {
      afterMs: CREATE_HEDGE_MS,
      discard: (unused) => jsm.consumers.delete(stream, unused.name),
      budget: hedges,
    }).catch((error: unknown) => {
      throw natsError(what, error);
    });
    let failed = false;
    /** Messages received and their bytes, for the size of the next pull. */
    let received = 0;
    let receivedBytes = 0;
    const pulls = new ConsumerPulls(js, stream, ci.name, what);
    let deleted: Promise<boolean> | undefined;
    const deleteConsumer = () => jsm.consumers.delete(stream, ci.name).catch(() => false);
    /** One pull: at most the seqs left before `end` (no more can match), `batch`, and `batchBytes` at the average size so far. */
    const nextPull = (reached: number) => {
      const size = received === 0 ? FIRST_PULL : Math.floor(batchBytes / (receivedBytes / received));
      const pending = pulls.pull(Math.max(1, Math.min(end - reached, batch, size)), FETCH_EXPIRES_MS);
      // Awaited below; this keeps a pull abandoned with the read (the caller broke out) from being unhandled.
      pending.catch(() => {});
      return pending;
    };
    try {
      /**
       * The highest seq the read has covered. A consumer started by time begins after the stream position of
       * that time (its `delivered.stream_seq`): when that is already `end`, there is nothing to pull.
       */
      let reached = Math.max(after, ci.delivered?.stream_seq ?? 0);
      let inFlight: Promise<PullResult> | undefined = reached < end ? nextPull(reached) : undefined;
      if (!inFlight) deleted = deleteConsumer();
      while (inFlight) {
        let result: PullResult;
        try {
          result = await inFlight;
        } catch (error) {
          failed = true;
          throw error;
        }
        const { messages, endedBy } = result;
        let fill: StoredMessage | undefined;
        if (messages.length > 0) {
          received += messages.length;
          for (const m of messages) receivedBytes += m.data.byteLength + m.subject.length + MESSAGE_OVERHEAD;
          reached = Math.max(reached, messages[messages.length - 1]!.seq);
        } else if (endedBy === 404 || endedBy === 408) {
          // Nothing available to the consumer, yet the read has not reached `end`: ask the leader.
          try {
            fill = await nextMatching(filter, reached + 1, what);
          } catch (error) {
            failed = true;
            throw error;
          }
          if (fill && fill.seq <= end) reached = fill.seq;
          else fill = undefined;
        } else {
          // The consumer is gone (503 no responders, 409 deleted) or never answered: the caller retries.
          failed = true;
          throw new ThreadlineError(
            ErrorCode.UNAVAILABLE,
            `${what}: the read's consumer stopped delivering (${endedBy ? `status ${endedBy}` : "no answer"})`,
          );
        }
        // Asked before the batch is yielded: the caller's work on it overlaps the next round trip.
        inFlight = (messages.length > 0 || fill) && reached < end ? nextPull(reached) : undefined;
        // The read is over for the consumer: delete it now, so that round trip overlaps the caller's work on
        // the last batch instead of following it.
        if (!inFlight) deleted ??= deleteConsumer();
        if (messages.length > 0) yield messages;
        if (fill && (options.since === undefined || fill.storedAt >= options.since)) yield [shaped(fill, options)];
      }
    } finally {
      // Awaited (one round trip) so a finished or abandoned read leaves no consumer behind; after a
      // failure NATS may be away, so it is not awaited and inactive_threshold removes the consumer.
      pulls.close();
      deleted ??= deleteConsumer();
      if (!failed) await deleted;
    }
  }
}

/** A `STREAM.MSG.GET` answer as a `StoredMessage` (null: none stored there). */
function storedMessage(m: StoredMsg | null): StoredMessage | undefined {
  return m ? { seq: m.seq, subject: m.subject, data: m.data, storedAt: m.time.getTime() } : undefined;
}

/** A message from the leader as the read returns it: without its data when the read is headers-only. */
function shaped(m: StoredMessage, options: ReadOptions): StoredMessage {
  return options.headersOnly ? { ...m, data: new Uint8Array(0) } : m;
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
 * `reader.read(filter, after, options)`, resumed after the last message it yielded
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
  options: ReadOptions & { maxAttempts?: number } = {},
): AsyncIterable<StoredMessage[]> {
  const { maxAttempts = 8, ...readOptions } = options;
  let last = after;
  let failures = 0;
  for (;;) {
    try {
      for await (const batch of reader.read(filter, last, readOptions)) {
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
