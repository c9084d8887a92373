import { randomUUID } from "node:crypto";
import type { Participant } from "@threadline/protocol";
import { type DataEvent, type DataEventBody, type DataLog, SubjectMovedError } from "./data-log.ts";
import { DurableStreamError } from "./errors.ts";
import { KeyedLock } from "./keyed-lock.ts";
import { withProducer } from "./producer.ts";
import { mediaType } from "./request-parse.ts";
import type { StreamRecord, StreamRecords, Versioned } from "./stream-records.ts";

/** Producer states kept per data stream; past it the least recently used are forgotten (PROTOCOL.md §21.5). */
export const MAX_PRODUCERS_PER_STREAM = 256;
/** Compare-and-set rounds before a contended record gives up with 503 (another replica keeps writing it). */
const MAX_ROUNDS = 16;

export function isExpired(record: StreamRecord, now: number): boolean {
  if (record.expiresAt !== undefined) {
    const at = Date.parse(record.expiresAt);
    if (!Number.isFinite(at) || now >= at) return true;
  }
  return record.ttlSeconds !== undefined && now >= record.accessedAt + record.ttlSeconds * 1000;
}

/** A data stream as an operation sees it: its record (revision for compare-and-set) and id. */
export interface LoadedStream extends Versioned<StreamRecord> {
  id: string;
}

/**
 * The data streams' lifecycle and write path: records in the streams
 * bucket, events on the data lane (data-log.ts). Every write of a stream on
 * this gateway runs under its lock; across replicas the record is changed by
 * compare-and-set and the data subject is written with an expected last seq,
 * so a write is always checked against the state it was stored after.
 */
export class DataStreams {
  readonly lock = new KeyedLock();

  constructor(
    readonly records: StreamRecords,
    readonly log: DataLog,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The stream's record, with expiry applied: an expired stream is deleted
   * (undefined) or, while forks read it, soft-deleted.
   */
  async load(id: string): Promise<LoadedStream | undefined> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const current = await this.records.get(id);
      if (!current) return undefined;
      if (current.value.softDeleted || !isExpired(current.value, this.now())) return { id, ...current };
      if (current.value.refs > 0) {
        const softDeleted = { ...current.value, softDeleted: true };
        const revision = await this.records.put(id, softDeleted, current.revision);
        if (revision !== undefined) return { id, value: softDeleted, revision };
        continue;
      }
      await this.destroy({ id, ...current });
      return undefined;
    }
    throw contended(id);
  }

  /** Records a read or append for the sliding TTL (streams without a TTL are not written). */
  async touch(stream: LoadedStream): Promise<void> {
    if (stream.value.ttlSeconds === undefined) return;
    await this.records.put(stream.id, { ...stream.value, accessedAt: this.now() }, stream.revision);
  }

  /** Creates the record of a new incarnation (revision 0); undefined when one exists already. */
  async createRecord(
    id: string,
    config: Pick<StreamRecord, "contentType" | "ttlSeconds" | "expiresAt" | "fork">,
    tailSeq: number,
  ): Promise<LoadedStream | undefined> {
    const now = this.now();
    const subjectSeq = await this.log.lastSubjectSeq(id);
    // Everything stored so far (a purge of an earlier incarnation that did not finish included) is not this one's.
    const createdAfter = Math.max(subjectSeq, await this.log.streamLastSeq());
    const value: StreamRecord = {
      v: 1,
      incarnation: randomUUID(),
      contentType: config.contentType,
      createdAt: now,
      createdAfter,
      ...(config.ttlSeconds === undefined ? {} : { ttlSeconds: config.ttlSeconds }),
      ...(config.expiresAt === undefined ? {} : { expiresAt: config.expiresAt }),
      accessedAt: now,
      tailSeq,
      subjectSeq,
      closed: false,
      producers: {},
      ...(config.fork === undefined ? {} : { fork: config.fork }),
      refs: 0,
      softDeleted: false,
    };
    const revision = await this.records.put(id, value, 0);
    return revision === undefined ? undefined : { id, value, revision };
  }

  /**
   * Stores a data event and the record change it implies, atomically with
   * respect to other writers: the event is published after the subject's
   * last seq the record knows; if another writer moved it, the record is
   * brought up to date from the subject (`resync`) and `UNAVAILABLE`-free
   * retry is left to the caller (`SubjectMovedError`).
   */
  async write(
    stream: LoadedStream,
    type: DataEvent["type"],
    body: DataEventBody,
    eventId: string | undefined,
  ): Promise<{ seq: number; stream: LoadedStream }> {
    let seq: number;
    try {
      seq = await this.log.publish(stream.id, type, body, stream.value.subjectSeq, eventId);
    } catch (error) {
      if (error instanceof SubjectMovedError) await this.resync(stream.id);
      throw error;
    }
    let current: Versioned<StreamRecord> | undefined = stream;
    for (let round = 0; round < MAX_ROUNDS && current; round++) {
      if (current.value.subjectSeq >= seq) return { seq, stream: { id: stream.id, ...current } };
      const next = applyEvent(current.value, { seq, type, body }, this.now());
      const revision = await this.records.put(stream.id, next, current.revision);
      if (revision !== undefined) return { seq, stream: { id: stream.id, value: next, revision } };
      current = await this.records.get(stream.id);
    }
    throw contended(stream.id);
  }

  /** Folds the data events the record has not seen yet (a writer that crashed between publish and record update). */
  async resync(id: string): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const current = await this.records.get(id);
      if (!current) return;
      let next = current.value;
      for await (const batch of this.log.read(id, current.value.subjectSeq)) {
        for (const event of batch) next = applyEvent(next, event, this.now());
      }
      next = { ...next, subjectSeq: Math.max(next.subjectSeq, await this.log.lastSubjectSeq(id)) };
      if (next === current.value || (await this.records.put(id, next, current.revision)) !== undefined) return;
    }
    throw contended(id);
  }

  /** Adds (`+1`) or removes (`-1`) a fork's reference on its source; a released, soft-deleted source with no forks left is destroyed. */
  async reference(source: string, delta: 1 | -1): Promise<boolean> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const current = await this.records.get(source);
      if (!current) return false;
      const refs = Math.max(0, current.value.refs + delta);
      const next = { ...current.value, refs };
      const revision = await this.records.put(source, next, current.revision);
      if (revision === undefined) continue;
      if (refs === 0 && next.softDeleted) await this.destroy({ id: source, value: next, revision });
      return true;
    }
    throw contended(source);
  }

  /** DELETE: soft while forks read it, otherwise gone (record, data, and the reference on its source). */
  async delete(stream: LoadedStream): Promise<void> {
    if (stream.value.refs > 0) {
      const next = { ...stream.value, softDeleted: true };
      if ((await this.records.put(stream.id, next, stream.revision)) === undefined) throw contended(stream.id);
      return;
    }
    await this.destroy(stream);
  }

  private async destroy(stream: LoadedStream): Promise<void> {
    if (!(await this.records.remove(stream.id, stream.revision))) return;
    await this.log.purge(stream.id);
    if (stream.value.fork) await this.reference(stream.value.fork.source, -1);
  }
}

/** The record after a data event (pure): tail, producer, `Stream-Seq` and closure state. */
export function applyEvent(record: StreamRecord, event: DataEvent, now: number): StreamRecord {
  const { body } = event;
  const next: StreamRecord = { ...record, subjectSeq: Math.max(record.subjectSeq, event.seq), accessedAt: now };
  if (event.type === "stream.append") next.tailSeq = Math.max(record.tailSeq, event.seq);
  if (body.producer) {
    const { id, epoch, seq } = body.producer;
    next.producers = withProducer(
      record.producers,
      id,
      { epoch, lastSeq: seq, updatedAt: now },
      MAX_PRODUCERS_PER_STREAM,
    );
  }
  if (body.streamSeq !== undefined) next.lastStreamSeq = body.streamSeq;
  if (event.type === "stream.close" || body.close) {
    next.closed = true;
    if (body.producer) next.closedBy = { ...body.producer };
  }
  return next;
}

/** Whether an existing stream matches a PUT's configuration (idempotent create; the fork offset is compared by the caller). */
export function sameConfig(
  record: StreamRecord,
  request: {
    contentType: string;
    ttlSeconds: number | undefined;
    expiresAt: string | undefined;
    closed: boolean;
    fork: { source: string; subOffset: number } | undefined;
  },
): boolean {
  const fork = record.fork;
  return (
    mediaType(record.contentType) === mediaType(request.contentType) &&
    record.ttlSeconds === request.ttlSeconds &&
    record.expiresAt === request.expiresAt &&
    record.closed === request.closed &&
    fork?.source === request.fork?.source &&
    (fork?.subOffset ?? 0) === (request.fork?.subOffset ?? 0)
  );
}

export function author(principal: { kind: Participant["kind"]; user: string }): Participant {
  return { kind: principal.kind, id: principal.user };
}

function contended(id: string): DurableStreamError {
  return new DurableStreamError("UNAVAILABLE", `stream ${id} is being changed concurrently; retry`);
}
