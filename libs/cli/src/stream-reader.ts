import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import {
  decodeMsgpack,
  ErrorCode,
  isEventId,
  isEventType,
  isParticipantId,
  isParticipantKind,
  type SessionEvent,
  type Subjects,
  ThreadlineError,
} from "@threadline/protocol";

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

/** Decodes one stored message; a payload that is not a Threadline envelope yields `problem`. */
export function decodeStored(subjects: Subjects, m: Pick<JsMsg, "subject" | "seq" | "data" | "info">): TimelineRecord {
  const parsed = subjects.parse(m.subject);
  const record: TimelineRecord = {
    seq: m.seq,
    session: parsed?.session ?? "?",
    subject: m.subject,
    stored: new Date(Math.floor(m.info.timestampNanos / 1e6)),
  };
  if (!parsed) {
    record.problem = "not a Threadline event subject";
    return record;
  }
  let value: unknown;
  try {
    value = decodeMsgpack(m.data);
  } catch (error) {
    record.problem = `payload is not msgpack: ${(error as Error).message}`;
    return record;
  }
  const problem = envelopeProblem(value);
  if (problem) record.problem = problem;
  else record.event = value as SessionEvent;
  return record;
}

function envelopeProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "payload is not an event envelope";
  const e = value as Record<string, unknown>;
  if (!isEventId(e.id)) return "envelope has no valid id";
  if (!isEventType(e.type)) return "envelope has no valid type";
  if (typeof e.ts !== "number") return "envelope has no ts";
  const from = e.from as Record<string, unknown> | undefined;
  if (typeof from !== "object" || from === null || !isParticipantKind(from.kind) || !isParticipantId(from.id)) {
    return "envelope has no valid from";
  }
  return undefined;
}
