import type { JetStreamClient } from "@nats-io/jetstream";
import {
  dedupeKey,
  ErrorCode,
  encodeMsgpack,
  Lane,
  PRESENCE_PARTICIPANT_ID,
  type PresenceTransition,
  presenceEventId,
  type SessionEvent,
  type Subjects,
  ThreadlineError,
} from "@threadline/protocol";
import { confirmDuplicateAck, type MessageAt, RetryPolicy, retryDelay, sleep } from "@threadline/store";
import type { Logger } from "pino";
import type { PresenceMetrics } from "./metrics.ts";

/** Publishes presence transitions into their sessions' `sys` lane. */
export interface PresencePublisher {
  /**
   * Stores the event of `transition`, caused by the bucket change with
   * `revision`, under the id `presenceEventId(revision, type)` — so every
   * replica publishing the same transition is deduplicated by the stream.
   * Events of one session are stored in call order. Never rejects: failures
   * are retried, then logged and counted.
   */
  publish(transition: PresenceTransition, revision: number): Promise<void>;
  /** Resolves when every accepted publish settled. */
  idle(): Promise<void>;
}

const RETRIES = 5;

export function createPresencePublisher(
  js: JetStreamClient,
  subjects: Subjects,
  stream: string,
  metrics: PresenceMetrics,
  log: Logger,
  /** The message stored at a seq (the stream leader's answer): confirms duplicate acks (PROTOCOL.md §3.3). */
  messageAt: MessageAt,
): PresencePublisher {
  /** Tail of each session's publish chain; removed once the chain is idle, so the map holds busy sessions only. */
  const chains = new Map<string, Promise<void>>();

  async function store(transition: PresenceTransition, revision: number): Promise<void> {
    const event: SessionEvent = {
      id: presenceEventId(revision, transition.type),
      type: transition.type,
      from: { kind: "system", id: PRESENCE_PARTICIPANT_ID },
      ts: Date.now(),
      data: transition.data,
    };
    const subject = subjects.event(transition.session, Lane.SYS, "system", PRESENCE_PARTICIPANT_ID);
    const payload = encodeMsgpack(event);
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await js.publish(subject, payload, {
          msgID: dedupeKey(transition.session, event.id),
          expect: { streamName: stream },
          timeout: 5000,
        });
        if (ack.duplicate) {
          // Another replica stored this transition (the same id): fine. Anything else holding the session's
          // key for this id (an agent choosing it on its own subject) means this event was NOT stored.
          try {
            await confirmDuplicateAck(
              messageAt,
              transition.session,
              { subject, id: event.id, type: event.type },
              ack.seq,
            );
          } catch (error) {
            if (!(error instanceof ThreadlineError && error.code === ErrorCode.EVENT_ID_CONFLICT)) throw error;
            metrics.events.inc({ type: transition.type, result: "conflict" });
            log.error(
              { err: error, session: transition.session, id: event.id },
              "presence event id held by another event",
            );
            return;
          }
        }
        metrics.events.inc({ type: transition.type, result: ack.duplicate ? "duplicate" : "stored" });
        metrics.publishSeconds.observe((performance.now() - started) / 1000);
        log.debug(
          { session: transition.session, event: event.id, type: event.type, seq: ack.seq, duplicate: ack.duplicate },
          "presence event stored",
        );
        return;
      } catch (error) {
        if (attempt >= RETRIES) {
          metrics.events.inc({ type: transition.type, result: "failed" });
          log.error({ err: error, session: transition.session, id: event.id }, "presence event not stored");
          return;
        }
        await sleep(retryDelay(attempt + 1, RetryPolicy.publish));
      }
    }
  }

  return {
    publish(transition, revision) {
      const previous = chains.get(transition.session) ?? Promise.resolve();
      const next = previous.then(() => store(transition, revision));
      chains.set(transition.session, next);
      void next.then(() => {
        if (chains.get(transition.session) === next) chains.delete(transition.session);
      });
      return next;
    },
    async idle() {
      while (chains.size > 0) await Promise.all([...chains.values()]);
    },
  };
}
