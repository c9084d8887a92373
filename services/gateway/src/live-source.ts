import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { Subjects } from "@threadline/protocol";

export interface LiveMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
}

/**
 * The live source of one session's events.
 * Contract: `open(session, after, onMessage)` calls `onMessage` for every
 * event of the session with seq > `after`, in seq order, with no gaps, until
 * closed — recovering by itself from NATS reconnects, slow-consumer drops and
 * server restarts (it may repeat an event after a recovery; callers drop
 * seq ≤ what they have).
 */
export interface LiveSource {
  open(session: string, after: number, onMessage: (message: LiveMessage) => void): Promise<{ close(): void }>;
}

/**
 * One JetStream **ordered consumer** per active session, filtered to
 * `<prefix>.<session>.>`. The server numbers what it delivers to the
 * consumer, so the client library notices any missing message (and a missed
 * heartbeat after a disconnect) and recreates the consumer from the last
 * stream seq it delivered: gap detection is exact, across all of the
 * session's subjects.
 *
 * Why not stream republish + a core subscription (no consumer at all)? The
 * republished header `Nats-Last-Sequence` is per *subject*, so a lost event
 * is only noticed when its subject publishes again — possibly after a later
 * event of another subject was already delivered, too late to repair in
 * order. See PROTOCOL.md §3.4.
 */
export function createLiveSource(js: JetStreamClient, stream: string, subjects: Subjects): LiveSource {
  return {
    async open(session, after, onMessage) {
      const consumer = await js.consumers.get(stream, {
        filter_subjects: subjects.session(session),
        ...(after === 0
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
      });
      const messages = await consumer.consume({
        max_messages: 512,
        callback: (m) => onMessage({ seq: m.seq, subject: m.subject, data: m.data }),
      });
      return {
        close: () => {
          void messages.close().catch(() => {});
        },
      };
    },
  };
}
