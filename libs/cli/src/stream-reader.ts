import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { decodeRecord } from "@threadline/agent";
import { ErrorCode, type SessionEvent, type Subjects, ThreadlineError } from "@threadline/protocol";

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

/** Messages pulled per request. */
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
 * Reads stored messages in stream order through an ordered consumer (no acks,
 * memory storage; the client library recreates it from the last seen seq
 * after a gap or a NATS reconnect, so nothing is skipped or repeated).
 * Ends when caught up unless `follow`; a followed read ends on `signal`.
 */
export async function* readStored(
  js: JetStreamClient,
  stream: string,
  subjects: Subjects,
  options: ReadOptions,
): AsyncGenerator<TimelineRecord> {
  const consumer = await js.consumers
    .get(stream, { filter_subjects: options.filter, opt_start_seq: options.startSeq })
    .catch((error: unknown) => {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, `cannot read ${options.filter}: ${(error as Error).message}`, {
        cause: error,
      });
    });
  let caughtUp = false;
  const markCaughtUp = () => {
    if (caughtUp) return;
    caughtUp = true;
    options.onCaughtUp?.();
  };
  try {
    const created = await consumer.info(true);
    if (created.num_pending === 0) {
      markCaughtUp();
      if (!options.follow) return;
    }
    const messages = await consumer.consume({ max_messages: PULL_BATCH });
    const stop = () => void messages.close();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const m of messages) {
        yield decodeStored(subjects, m);
        if (m.info.pending === 0) {
          markCaughtUp();
          if (!options.follow) return;
        }
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
      await messages.close();
    }
  } finally {
    await consumer.delete().catch(() => false);
  }
}

/**
 * Decodes one stored message with the agent SDK's record decoder; where the SDK
 * would skip the message (foreign subject, not a msgpack envelope), the record
 * keeps the decoder's reason in `problem` instead.
 */
export function decodeStored(subjects: Subjects, m: Pick<JsMsg, "subject" | "seq" | "data" | "info">): TimelineRecord {
  const stored = new Date(Math.floor(m.info.timestampNanos / 1e6));
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
