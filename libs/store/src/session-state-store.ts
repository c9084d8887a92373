import { type ConsumerMessages, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Lane, type SessionState } from "@threadline/protocol";
import { createHistoryReader, type HistoryReader, readResuming } from "./history-reader.ts";
import { natsError } from "./nats-errors.ts";
import { decodeRecord, type SubjectRecord } from "./record-decoder.ts";
import { foldStoredState } from "./state-reader.ts";
import type { ThreadlineStreamInfo } from "./stream-provisioner.ts";

/** What the state store needs: a connection and the looked-up / provisioned stream. */
export interface SessionStateStoreDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  info: ThreadlineStreamInfo;
}

/** A live follower of one session's `st` lane; `close()` is idempotent. */
export interface StateFollower {
  /** Seq of the last state event delivered. */
  readonly lastSeq: number;
  close(): Promise<void>;
}

/**
 * Shared session state (PROTOCOL.md §19) read from NATS — the one place the
 * agent SDK reads state. The state of a session is the fold of its `state`
 * events (lane `st`, `<prefix>.<session>.st.>`) in stream order; this store
 * reads them (`read`, `catchUp`) and follows them live (`follow`). The fold
 * itself is `stepState` / `foldState` of `@threadline/protocol`.
 *
 * Failures are typed: `UNAVAILABLE` (retryable) when NATS or the stream is
 * away, `CLOSED` when the connection was closed by its owner.
 */
export interface SessionStateStore {
  /**
   * Every object of `session` as of the stream's current position: the fold
   * of its state events, with `seq` ≥ the stream's last seq when the call
   * started (so a view built on it may follow from `seq`).
   * @example
   *   const { seq, objects } = await store.read("s1");
   */
  read(session: string): Promise<SessionState>;
  /**
   * Offers `onRecord` every state event of `session` with seq > `after` that
   * was stored when the call started, in order; resolves with the position
   * the caller's view has reached: the larger of the last seq offered and
   * `atLeast` (a seq the caller knows was stored before the call, e.g. a
   * turn's input), or the stream's last seq when `atLeast` is not given.
   */
  catchUp(session: string, after: number, onRecord: (record: SubjectRecord) => void, atLeast?: number): Promise<number>;
  /**
   * Follows the state events of `session` stored after `after`, live, in
   * order, through an ordered consumer (the client library recreates it from
   * the last delivered seq on a gap; after a NATS reconnect it is restarted
   * at once from there). Resolves once the consumer exists.
   */
  follow(session: string, after: number, onRecord: (record: SubjectRecord) => void): Promise<StateFollower>;
}

/**
 * @example
 *   const store = createSessionStateStore({ nc, js: jetstream(nc), jsm: await jetstreamManager(nc), info });
 *   const state = await store.read("s1");
 *   const follower = await store.follow("s1", state.seq, (r) => console.log(r.seq, r.event.data));
 */
export function createSessionStateStore(deps: SessionStateStoreDeps): SessionStateStore {
  const reader: HistoryReader = createHistoryReader(deps.js, deps.jsm, { stream: deps.info.stream });
  const filter = (session: string) => `${deps.info.subjects.prefix}.${session}.${Lane.ST}.>`;

  async function catchUp(
    session: string,
    after: number,
    onRecord: (record: SubjectRecord) => void,
    atLeast?: number,
  ): Promise<number> {
    let reached = atLeast ?? 0;
    if (atLeast === undefined) {
      // Measured before the read: every state event up to it is among what the read yields.
      reached = await reader.streamState().then(
        (s) => s.lastSeq,
        (error: unknown) => {
          throw natsError(`reading the state of ${session}`, error, session);
        },
      );
    }
    for await (const batch of readResuming(reader, filter(session), after)) {
      for (const m of batch) {
        if (m.seq > reached) reached = m.seq;
        const record = decodeRecord(deps.info.subjects, m.subject, m.seq, m.data);
        // Not a Threadline event (another writer on the subject): the fold skips it like any non-state record.
        if (typeof record !== "string") onRecord(record);
      }
    }
    return Math.max(reached, after);
  }

  return {
    async read(session) {
      // Measured before the fold: every state event up to it is among what the fold reads.
      const last = await reader.streamState().then(
        (s) => s.lastSeq,
        (error: unknown) => {
          throw natsError(`reading the state of ${session}`, error, session);
        },
      );
      const state = await foldStoredState(reader, deps.info.subjects, session);
      return { seq: Math.max(last, state.seq), objects: state.objects };
    },
    catchUp,
    follow: (session, after, onRecord) => followState(deps, filter(session), session, after, onRecord),
  };
}

async function followState(
  deps: SessionStateStoreDeps,
  filter: string,
  session: string,
  after: number,
  onRecord: (record: SubjectRecord) => void,
): Promise<StateFollower> {
  let lastSeq = after;
  let messages: ConsumerMessages | undefined;
  let closed = false;
  const start = async (): Promise<ConsumerMessages> => {
    const consumer = await deps.js.consumers.get(deps.info.stream, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: lastSeq + 1,
    });
    return consumer.consume({
      callback: (m) => {
        // A restarted consumer may repeat what the previous one delivered.
        if (m.seq <= lastSeq) return;
        lastSeq = m.seq;
        const record = decodeRecord(deps.info.subjects, m.subject, m.seq, m.data);
        if (typeof record !== "string") onRecord(record);
      },
    });
  };
  try {
    messages = await start();
  } catch (error) {
    throw natsError(`following the state of ${session}`, error, session);
  }
  const statuses = deps.nc.status();
  void (async () => {
    for await (const status of statuses) {
      if (closed) return;
      if (status.type !== "reconnect") continue;
      // The library would only notice after missed heartbeats (seconds); resume now instead.
      const old: ConsumerMessages | undefined = messages;
      messages = await start().catch((): ConsumerMessages | undefined => old);
      if (messages !== old) void old?.close().catch(() => {});
      if (closed) void messages?.close().catch(() => {});
    }
  })().catch(() => {});
  return {
    get lastSeq() {
      return lastSeq;
    },
    async close() {
      if (closed) return;
      closed = true;
      // The status iterator of nats.js is a QueuedIterator: stop() ends the loop above now.
      (statuses as { stop?: () => void }).stop?.();
      await messages?.close().catch(() => {});
    },
  };
}
