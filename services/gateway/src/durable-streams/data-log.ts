import { createHash } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import {
  decodeMsgpack,
  dedupeKey,
  ErrorCode,
  encodeMsgpack,
  Lane,
  newId,
  type Participant,
  type SessionEvent,
  type Subjects,
  ThreadlineError,
} from "@threadline/protocol";
import {
  confirmDuplicateAck,
  type HistoryReader,
  JsErrCode,
  jsApiErrorCode,
  natsError,
  type StreamPublisher,
} from "@threadline/store";
import type { ProducerHeaders } from "./request-parse.ts";

/** Event types a data stream stores on its data subject (PROTOCOL.md §21.3). */
export const APPEND_EVENT_TYPE = "stream.append";
export const CLOSE_EVENT_TYPE = "stream.close";
/** Data-stream events are written by the gateway as this system participant; `data.by` names the author. */
export const STREAMS_PARTICIPANT = "streams";

/** What a `stream.append` / `stream.close` event carries in `data`. */
export interface DataEventBody {
  /** Byte streams: the appended bytes. */
  bytes?: Uint8Array;
  /** JSON streams: the appended messages. */
  json?: unknown[];
  /** The authenticated author of the request. */
  by: Participant;
  producer?: ProducerHeaders;
  streamSeq?: string;
  /** The append also closed the stream. */
  close?: true;
}

/** One stored data-stream event, decoded. */
export interface DataEvent {
  seq: number;
  type: typeof APPEND_EVENT_TYPE | typeof CLOSE_EVENT_TYPE;
  body: DataEventBody;
}

/** The publish found the data subject at another seq than expected: another writer got there first. */
export class SubjectMovedError extends Error {
  override readonly name = "SubjectMovedError";
}

/**
 * The data lane of the Threadline stream as data streams use it: one subject
 * per stream, `<prefix>.<id>.data.system.streams`, written only with
 * `Nats-Expected-Last-Subject-Sequence`, so every write of a stream is
 * checked against the state it was validated on (across gateway replicas too).
 */
export class DataLog {
  constructor(
    private readonly js: StreamPublisher,
    private readonly jsm: JetStreamManager,
    private readonly reader: HistoryReader,
    private readonly subjects: Subjects,
    private readonly stream: string,
  ) {}

  subject(id: string): string {
    return this.subjects.event(id, Lane.DATA, "system", STREAMS_PARTICIPANT);
  }

  /**
   * Stores one event after `expectedSubjectSeq` (the last seq on the subject
   * the caller validated against). The event id is `eventId` (deterministic
   * for producer requests, so a retry after a lost ack is deduplicated by
   * the stream) or a new one. Resolves to the stored seq; throws
   * `SubjectMovedError` when the subject moved on.
   */
  async publish(
    id: string,
    type: DataEvent["type"],
    body: DataEventBody,
    expectedSubjectSeq: number,
    eventId: string = newId(),
  ): Promise<number> {
    const subject = this.subject(id);
    const event: SessionEvent = {
      id: eventId,
      type,
      from: { kind: "system", id: STREAMS_PARTICIPANT },
      ts: Date.now(),
      data: body,
    };
    let ack: { seq: number; duplicate: boolean };
    try {
      ack = await this.js.publish(subject, encodeMsgpack(event), {
        msgId: dedupeKey(id, eventId),
        expectStream: this.stream,
        expectLastSubjectSequence: expectedSubjectSeq,
        timeoutMs: 5_000,
      });
    } catch (error) {
      if (jsApiErrorCode(error) === JsErrCode.WRONG_LAST_SEQUENCE) throw new SubjectMovedError(subject);
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, `stream ${id}: the append was not stored; retry`, {
        session: id,
        cause: error,
      });
    }
    if (ack.duplicate)
      await confirmDuplicateAck((seq) => this.reader.messageAt(seq), id, { subject, id: eventId, type }, ack.seq);
    return ack.seq;
  }

  /** The seq of the last message on the stream's data subject (0 when none), asked of the stream leader. */
  async lastSubjectSeq(id: string): Promise<number> {
    return this.lastSeqOf(this.subject(id));
  }

  /** The NATS stream's last seq (every session's). */
  async streamLastSeq(): Promise<number> {
    try {
      return (await this.jsm.streams.info(this.stream)).state.last_seq;
    } catch (error) {
      throw natsError(`reading the state of stream ${this.stream}`, error);
    }
  }

  /** The seq of the last event of the whole session (any lane), 0 when it has none. */
  async lastSessionSeq(id: string): Promise<number> {
    return this.lastSeqOf(this.subjects.session(id));
  }

  private async lastSeqOf(filter: string): Promise<number> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: filter });
      return m?.seq ?? 0;
    } catch (error) {
      throw natsError(`reading the last message of ${filter}`, error);
    }
  }

  /** Removes every message of the stream's data subject (DELETE, expiry). */
  async purge(id: string): Promise<void> {
    try {
      await this.jsm.streams.purge(this.stream, { filter: this.subject(id) });
    } catch (error) {
      throw natsError(`purging stream ${id}`, error);
    }
  }

  /**
   * The stream's data events with `after` < seq ≤ `upTo`, in order and in
   * batches, as stored when the call started.
   */
  async *read(id: string, after: number, upTo: number = Number.MAX_SAFE_INTEGER): AsyncIterable<DataEvent[]> {
    if (after >= upTo) return;
    for await (const batch of this.reader.read(this.subject(id), after)) {
      const events: DataEvent[] = [];
      let done = false;
      for (const m of batch) {
        if (m.seq > upTo) {
          done = true;
          break;
        }
        const event = decodeDataEvent(m.seq, m.data);
        if (event) events.push(event);
      }
      if (events.length > 0) yield events;
      if (done) return;
    }
  }
}

/** A stored message as a data event, or undefined when it is not one (skipped by readers). */
export function decodeDataEvent(seq: number, data: Uint8Array): DataEvent | undefined {
  let value: unknown;
  try {
    value = decodeMsgpack(data);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { type, data: body } = value as { type?: unknown; data?: unknown };
  if ((type !== APPEND_EVENT_TYPE && type !== CLOSE_EVENT_TYPE) || typeof body !== "object" || body === null)
    return undefined;
  const b = body as DataEventBody;
  if (type === APPEND_EVENT_TYPE && !(b.bytes instanceof Uint8Array) && !Array.isArray(b.json)) return undefined;
  return { seq, type, body: b };
}

/** The event id of a producer's request: the same request always maps to the same id (dedupe across retries). */
export function producerEventId(incarnation: string, producer: ProducerHeaders, close: boolean): string {
  const hash = createHash("sha256").update(`${incarnation}\u0000${producer.id}`).digest("hex").slice(0, 20);
  return `p${hash}-${producer.epoch}-${producer.seq}${close ? "c" : ""}`;
}
