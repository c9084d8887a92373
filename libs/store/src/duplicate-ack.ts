import { duplicateAckProblem, ErrorCode, type PublishedEvent, ThreadlineError } from "@threadline/protocol";
import type { StoredMessage } from "./history-reader.ts";

/** Reads the message stored at a seq, at the stream leader (`HistoryReader.messageAt`). */
export type MessageAt = (seq: number) => Promise<Pick<StoredMessage, "subject" | "data"> | undefined>;

/**
 * Confirms a duplicate publish ack (PROTOCOL.md §3.3): JetStream answers
 * `duplicate` for any message that holds the same dedupe key within the
 * window, so the ack is only about `published` when the message stored at
 * `seq` is this event (same subject, id and type). Every publisher (gateway,
 * agent SDK, CLI) checks through here.
 *
 * Throws `EVENT_ID_CONFLICT` (nothing was stored: publish with a new id) when
 * another event holds the key — the detail (which may name another session's
 * subject) goes to `cause`, never into the message — and `UNAVAILABLE` when
 * the stored message cannot be read (retry with the same id).
 */
export async function confirmDuplicateAck(
  messageAt: MessageAt,
  session: string,
  published: PublishedEvent,
  seq: number,
): Promise<void> {
  let stored: Pick<StoredMessage, "subject" | "data"> | undefined;
  try {
    stored = await messageAt(seq);
  } catch (error) {
    throw new ThreadlineError(
      ErrorCode.UNAVAILABLE,
      `event ${published.id} may already be stored; could not confirm it, retry with the same id`,
      { session, cause: error },
    );
  }
  const problem = duplicateAckProblem(published, stored);
  if (problem) {
    throw new ThreadlineError(
      ErrorCode.EVENT_ID_CONFLICT,
      `event id ${published.id} is already used by another event within the duplicate window; nothing was stored, publish with a new id`,
      { session, cause: new Error(`seq ${seq}: ${problem}`) },
    );
  }
}
