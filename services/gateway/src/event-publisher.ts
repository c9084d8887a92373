import type { JetStreamClient } from "@nats-io/jetstream";
import {
  ErrorCode,
  encodeMsgpack,
  type Lane,
  type SessionEvent,
  type Subjects,
  ThreadlineError,
} from "@threadline/protocol";

export interface PublishResult {
  seq: number;
  duplicate: boolean;
}

/**
 * Stores client events in the stream. The event id is the `Nats-Msg-Id`, so
 * a client that re-sends after a lost acknowledgement gets the original seq
 * back (`duplicate: true`) instead of a second copy.
 */
export interface EventPublisher {
  publish(session: string, lane: Lane, event: SessionEvent): Promise<PublishResult>;
}

export function createEventPublisher(
  js: JetStreamClient,
  subjects: Subjects,
  stream: string,
  timeoutMs: number,
): EventPublisher {
  return {
    async publish(session, lane, event) {
      const subject = subjects.event(session, lane, event.from.kind, event.from.id);
      try {
        const ack = await js.publish(subject, encodeMsgpack(event), {
          msgID: event.id,
          expect: { streamName: stream },
          timeout: timeoutMs,
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
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
    },
  };
}
