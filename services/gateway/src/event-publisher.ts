import type { JetStreamClient } from "@nats-io/jetstream";
import {
  dedupeKey,
  duplicateAckProblem,
  ErrorCode,
  encodeMsgpack,
  type Lane,
  type SessionEvent,
  type Subjects,
  ThreadlineError,
} from "@threadline/protocol";
import type { StoredAt } from "./history-reader.ts";

export interface PublishResult {
  seq: number;
  duplicate: boolean;
}

/**
 * Stores client events in the stream under `Nats-Msg-Id: <session>/<event id>`
 * (`dedupeKey`), so a client that re-sends after a lost acknowledgement gets
 * the original seq back (`duplicate: true`) instead of a second copy, and an
 * id used in another session never collides. A duplicate acknowledgement is
 * checked against the message stored at its seq before it is reported: it
 * must be this event (same subject — session, lane, author — id and type);
 * otherwise the publish fails with `EVENT_ID_CONFLICT` (nothing was stored).
 */
export interface EventPublisher {
  publish(session: string, lane: Lane, event: SessionEvent): Promise<PublishResult>;
}

export function createEventPublisher(
  js: JetStreamClient,
  subjects: Subjects,
  stream: string,
  timeoutMs: number,
  /** The message the stream holds at `seq` (asked of the leader), to check duplicate acks. */
  messageAt: (seq: number) => Promise<StoredAt | undefined>,
): EventPublisher {
  return {
    async publish(session, lane, event) {
      const subject = subjects.event(session, lane, event.from.kind, event.from.id);
      let ack: { seq: number; duplicate: boolean };
      try {
        ack = await js.publish(subject, encodeMsgpack(event), {
          msgID: dedupeKey(session, event.id),
          expect: { streamName: stream },
          timeout: timeoutMs,
        });
      } catch (error) {
        throw new ThreadlineError(
          ErrorCode.PUBLISH_FAILED,
          `event ${event.id} was not stored; retry with the same id`,
          {
            session,
            cause: error,
          },
        );
      }
      if (ack.duplicate) await checkDuplicate(session, { subject, id: event.id, type: event.type }, ack.seq);
      return { seq: ack.seq, duplicate: ack.duplicate };
    },
  };

  async function checkDuplicate(
    session: string,
    published: { subject: string; id: string; type: string },
    seq: number,
  ): Promise<void> {
    let stored: StoredAt | undefined;
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
        // The detail may name another session's subject: it goes to the log (cause), never to the client.
        { session, cause: new Error(`seq ${seq}: ${problem}`) },
      );
    }
  }
}
