import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { ErrorCode, isSeq, isSessionId, ThreadlineError } from "@threadline/protocol";
import { natsError } from "./errors.ts";
import { decodeRecord, type SubjectRecord } from "./record-decoder.ts";
import type { ThreadlineStreamInfo } from "./stream-provisioner.ts";

export interface HistoryOptions {
  /** Yield only events with seq > `after`. Default 0 (the whole stored history). */
  after?: number;
  /**
   * Called for stored messages that are not Threadline events (skipped).
   * Default: ignore them.
   */
  onInvalid?: (info: { subject: string; seq: number; problem: string }) => void;
}

/** Messages pulled per request while reading history. */
const PULL_BATCH = 256;

/**
 * Reads one session's stored events in stream order with an ordered
 * consumer (filter `<prefix>.<session>.>`, start at `after + 1`, memory
 * storage, no acks; the client library recreates it from the last seen seq
 * if a message is missed or NATS reconnects). The iteration ends when the
 * consumer is caught up — the last delivered message reported 0 pending,
 * or there was nothing to read — so it includes events stored while it ran
 * until it catches up. The consumer is deleted when the iteration ends
 * (also on `break`, before the loop exits); the server removes it by itself
 * after 5 min of inactivity if the process dies.
 *
 * Validation happens on the call (not on first iteration): an invalid
 * session id or `after` throws `ThreadlineError` at once.
 */
export function readHistory(
  js: JetStreamClient,
  info: ThreadlineStreamInfo,
  session: string,
  options: HistoryOptions = {},
): AsyncIterable<SubjectRecord> {
  if (!isSessionId(session)) {
    throw new ThreadlineError(ErrorCode.INVALID_SESSION, `invalid session id: ${JSON.stringify(session)}`);
  }
  const after = options.after ?? 0;
  if (!isSeq(after)) {
    throw new ThreadlineError(
      ErrorCode.INVALID_POSITION,
      `after must be a non-negative integer, got ${String(after)}`,
      {
        session,
      },
    );
  }
  return read(js, info, session, after, options.onInvalid);
}

async function* read(
  js: JetStreamClient,
  info: ThreadlineStreamInfo,
  session: string,
  after: number,
  onInvalid: HistoryOptions["onInvalid"],
): AsyncGenerator<SubjectRecord> {
  const what = `reading the history of ${session}`;
  const consumer = await js.consumers
    .get(info.stream, { filter_subjects: info.subjects.session(session), opt_start_seq: after + 1 })
    .catch((error: unknown) => {
      throw natsError(what, error, session);
    });
  try {
    // The creation reply says how much there is to read; nothing → done without a pull.
    const created = await consumer.info(true);
    if (created.num_pending === 0) return;
    const messages = await consumer.consume({ max_messages: PULL_BATCH }).catch((error: unknown) => {
      throw natsError(what, error, session);
    });
    try {
      for await (const m of iterate(messages, what, session)) {
        const record = decodeRecord(info.subjects, m.subject, m.seq, m.data);
        if (typeof record === "string") onInvalid?.({ subject: m.subject, seq: m.seq, problem: record });
        else yield record;
        if (m.info.pending === 0) return;
      }
      // The iterator only ends by itself when the connection closed.
      throw new ThreadlineError(ErrorCode.CLOSED, `history of ${session} ended before it caught up`, { session });
    } finally {
      await messages.close();
    }
  } finally {
    // Best effort (one round trip): the ordered consumer also expires by itself (inactive_threshold).
    await consumer.delete().catch(() => false);
  }
}

/** The consumer's messages, with an iterator failure turned into a typed error. */
async function* iterate(messages: AsyncIterable<JsMsg>, what: string, session: string): AsyncGenerator<JsMsg> {
  try {
    for await (const m of messages) yield m;
  } catch (error) {
    throw natsError(what, error, session);
  }
}
