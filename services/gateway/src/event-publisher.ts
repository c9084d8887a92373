import {
  dedupeKey,
  ErrorCode,
  encodeMsgpack,
  type Lane,
  type SessionEvent,
  type Subjects,
  ThreadlineError,
} from "@threadline/protocol";
import { confirmDuplicateAck, type MessageAt, type StreamPublisher } from "@threadline/store";

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
  /** The gateway's `JsPublisher` (one per gateway, shared with the durable-streams data log). */
  js: StreamPublisher,
  subjects: Subjects,
  stream: string,
  timeoutMs: number,
  /** The message the stream holds at `seq` (asked of the leader), to check duplicate acks. */
  messageAt: MessageAt,
): EventPublisher {
  return {
    async publish(session, lane, event) {
      const subject = subjects.event(session, lane, event.from.kind, event.from.id);
      let ack: { seq: number; duplicate: boolean };
      try {
        ack = await js.publish(subject, encodeMsgpack(event), {
          msgId: dedupeKey(session, event.id),
          expectStream: stream,
          timeoutMs,
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
      if (ack.duplicate)
        await confirmDuplicateAck(messageAt, session, { subject, id: event.id, type: event.type }, ack.seq);
      return { seq: ack.seq, duplicate: ack.duplicate };
    },
  };
}
