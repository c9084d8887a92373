import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { checkSessionId, ErrorCode, isSeq, ThreadlineError } from "@threadline/protocol";
import {
  createHistoryReader,
  decodeRecord,
  readResuming,
  type SubjectRecord,
  type ThreadlineStreamInfo,
} from "@threadline/store";

export interface HistoryOptions {
  /** Yield only events with seq > `after`. Default 0 (the whole stored history). */
  after?: number;
  /**
   * Called for stored messages that are not Threadline events (skipped).
   * Default: ignore them.
   */
  onInvalid?: (info: { subject: string; seq: number; problem: string }) => void;
}

/**
 * Reads one session's stored events in stream order with the store's history
 * reader (`@threadline/store`: one short-lived filtered consumer, removed when
 * the iteration ends, also on `break`). The iteration yields every event of
 * the session with seq > `after` that was stored when it started, then ends.
 * A read NATS interrupts (a reconnect, a node restarting) resumes after the
 * last event it yielded (`readResuming`); one that keeps failing throws a
 * typed `ThreadlineError` (`UNAVAILABLE`: read again from the last seq you got).
 *
 * Validation happens on the call (not on first iteration): an invalid
 * session id or `after` throws `ThreadlineError` at once.
 */
export function readHistory(
  js: JetStreamClient,
  jsm: JetStreamManager,
  info: ThreadlineStreamInfo,
  session: string,
  options: HistoryOptions = {},
): AsyncIterable<SubjectRecord> {
  checkSessionId(session);
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
  return read(js, jsm, info, session, after, options.onInvalid);
}

async function* read(
  js: JetStreamClient,
  jsm: JetStreamManager,
  info: ThreadlineStreamInfo,
  session: string,
  after: number,
  onInvalid: HistoryOptions["onInvalid"],
): AsyncGenerator<SubjectRecord> {
  const reader = createHistoryReader(js, jsm, { stream: info.stream });
  for await (const batch of readResuming(reader, info.subjects.session(session), after)) {
    for (const m of batch) {
      const record = decodeRecord(info.subjects, m.subject, m.seq, m.data);
      if (typeof record === "string") onInvalid?.({ subject: m.subject, seq: m.seq, problem: record });
      else yield record;
    }
  }
}
