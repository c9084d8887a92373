import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, type SessionEvent, type Subjects, ThreadlineError } from "@threadline/protocol";
import {
  createHistoryReader,
  decodeRecord,
  isTransientNatsError,
  RetryPolicy,
  readResuming,
  retryDelay,
  type StoredMessage,
  sleep,
} from "@threadline/store";

/**
 * One stored message of a session as the CLI shows it. Unlike the SDKs, the
 * CLI does not skip payloads that are not valid envelopes: it is a diagnostic
 * tool, so such a message is a record with `problem` set and no `event`.
 */
export interface TimelineRecord {
  seq: number;
  session: string;
  subject: string;
  /** When the stream stored it (server clock). */
  stored: Date;
  event?: SessionEvent;
  problem?: string;
}

/** Messages pulled per request while following. */
const PULL_BATCH = 256;

export interface ReadOptions {
  /** Subject filter, e.g. `tl.s1.>`. */
  filter: string;
  /** First stream seq to read. */
  startSeq: number;
  /** Keep following new messages after catching up (tail); otherwise end once caught up. */
  follow: boolean;
  /** Called once when the reader has delivered every message stored when it started (also when there were none). */
  onCaughtUp?: () => void;
  signal?: AbortSignal;
}

/**
 * Reads stored messages in stream order: what is stored when the call starts
 * through the store's history reader (`@threadline/store`), then — with
 * `follow` — every later message through an ordered consumer starting right
 * after the last one read (no acks, memory storage; the client library
 * recreates it from the last seen seq after a gap or a NATS reconnect, so
 * nothing is skipped or repeated). A followed read ends on `signal`.
 */
export async function* readStored(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subjects: Subjects,
  options: ReadOptions,
): AsyncGenerator<TimelineRecord> {
  let last = options.startSeq - 1;
  const history = createHistoryReader(js, jsm, { stream });
  try {
    for await (const batch of readResuming(history, options.filter, last)) {
      for (const m of batch) {
        yield decodeStored(subjects, m);
        last = m.seq;
      }
      if (options.signal?.aborted) return;
    }
  } catch (error) {
    throw unavailable(options.filter, error);
  }
  options.onCaughtUp?.();
  if (options.follow && !options.signal?.aborted) yield* follow(js, stream, subjects, options, last + 1);
}

async function* follow(
  js: JetStreamClient,
  stream: string,
  subjects: Subjects,
  options: ReadOptions,
  startSeq: number,
): AsyncGenerator<TimelineRecord> {
  const consumer = await openFollower(js, stream, options, startSeq);
  if (!consumer) return; // aborted while NATS was away
  try {
    const messages = await consumer.consume({ max_messages: PULL_BATCH });
    const stop = () => void messages.close();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const m of messages) {
        yield decodeStored(subjects, {
          seq: m.seq,
          subject: m.subject,
          data: m.data,
          storedAt: Math.floor(m.info.timestampNanos / 1e6),
        });
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
      await messages.close();
    }
  } finally {
    await consumer.delete().catch(() => false);
  }
}

function unavailable(filter: string, error: unknown): ThreadlineError {
  if (error instanceof ThreadlineError) return error;
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `cannot read ${filter}: ${(error as Error).message}`, {
    cause: error,
  });
}

/**
 * Decodes one stored message with the store's record decoder; where the SDKs
 * would skip the message (foreign subject, not a msgpack envelope), the record
 * keeps the decoder's reason in `problem` instead.
 */
export function decodeStored(subjects: Subjects, m: StoredMessage): TimelineRecord {
  const stored = new Date(m.storedAt);
  const decoded = decodeRecord(subjects, m.subject, m.seq, m.data);
  if (typeof decoded === "string") {
    return {
      seq: m.seq,
      session: subjects.parse(m.subject)?.session ?? "?",
      subject: m.subject,
      stored,
      problem: decoded,
    };
  }
  return { seq: m.seq, session: decoded.session, subject: m.subject, stored, event: decoded.event };
}

/**
 * The follower's ordered consumer. NATS may be restarting right when the
 * catch-up read ends (the follower starts after it): a transient failure is
 * retried with `RetryPolicy.consumer` until it works or `signal` aborts
 * (then `undefined`); any other failure is a typed `UNAVAILABLE`.
 */
async function openFollower(
  js: JetStreamClient,
  stream: string,
  options: ReadOptions,
  startSeq: number,
): Promise<Awaited<ReturnType<JetStreamClient["consumers"]["get"]>> | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await js.consumers.get(stream, { filter_subjects: options.filter, opt_start_seq: startSeq });
    } catch (error) {
      if (!isTransientNatsError(error)) throw unavailable(options.filter, error);
      await sleep(retryDelay(attempt, RetryPolicy.consumer), options.signal);
      if (options.signal?.aborted) return undefined;
    }
  }
}
