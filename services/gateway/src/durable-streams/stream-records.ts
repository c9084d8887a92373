import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { JsErrCode, jsApiErrorCode, natsError } from "@threadline/store";
import type { ProducerState } from "./producer.ts";

/** Default KV bucket of data-stream records (`THREADLINE_STREAMS_BUCKET`). */
export const DEFAULT_STREAMS_BUCKET = "threadline-streams";

/**
 * What the gateway keeps about a **data stream** (a session created with PUT,
 * PROTOCOL.md §21.3), one KV entry per stream keyed by its id. The bytes live
 * in the Threadline stream (lane `data`); this is the configuration and the
 * write state every append is checked against.
 */
export interface StreamRecord {
  v: 1;
  /** Random per creation: a stream recreated after DELETE is another incarnation. */
  incarnation: string;
  /** As given at creation (parameters kept); compared by media type. */
  contentType: string;
  createdAt: number;
  /** The NATS stream's last seq when this incarnation was created: its data has greater seqs. */
  createdAfter: number;
  ttlSeconds?: number;
  expiresAt?: string;
  /** Last read or append (ms): a TTL is a sliding window from here. HEAD does not touch it. */
  accessedAt: number;
  /** Seq of the last `stream.append` (or the fork point before any). The tail offset. */
  tailSeq: number;
  /** Seq of the last message on the stream's data subject (appends and the close marker). */
  subjectSeq: number;
  closed: boolean;
  /** The producer request that closed it (a retry of it is a duplicate, not a conflict). */
  closedBy?: { id: string; epoch: number; seq: number };
  /** Last `Stream-Seq` accepted. */
  lastStreamSeq?: string;
  producers: Record<string, ProducerState>;
  fork?: { source: string; seq: number; offset?: string; subOffset: number };
  /** Forks reading through this stream. */
  refs: number;
  /** Deleted (or expired) while forks still read it: gone for clients, kept for the forks. */
  softDeleted: boolean;
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

function isRecord(value: unknown): value is StreamRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Partial<StreamRecord>;
  return (
    r.v === 1 &&
    typeof r.incarnation === "string" &&
    typeof r.contentType === "string" &&
    typeof r.tailSeq === "number" &&
    typeof r.subjectSeq === "number" &&
    typeof r.createdAfter === "number" &&
    typeof r.accessedAt === "number" &&
    typeof r.closed === "boolean" &&
    typeof r.refs === "number" &&
    typeof r.softDeleted === "boolean" &&
    typeof r.producers === "object" &&
    r.producers !== null
  );
}

/**
 * The data-stream records bucket. Writes are creates or compare-and-sets
 * (undefined when another writer won), so gateways agree on each stream's
 * configuration and write state. A stored value that does not validate reads
 * as missing.
 */
export class StreamRecords {
  constructor(private readonly kv: KV) {}

  /** Opens the bucket (`provisionThreadline` creates it: `streamsBucket`). */
  static async open(nc: NatsConnection, bucket: string): Promise<StreamRecords> {
    try {
      return new StreamRecords(await new Kvm(nc).open(bucket));
    } catch (error) {
      throw natsError(`opening the streams bucket ${bucket}`, error);
    }
  }

  async get(id: string): Promise<Versioned<StreamRecord> | undefined> {
    try {
      const entry = await this.kv.get(id);
      if (entry?.operation !== "PUT" || entry.length === 0) return undefined;
      const value: unknown = entry.json();
      return isRecord(value) ? { value, revision: entry.revision } : undefined;
    } catch (error) {
      throw natsError(`reading stream record ${id}`, error);
    }
  }

  /** Creates (revision 0) or compare-and-sets; undefined when the key was not at `revision`. */
  async put(id: string, record: StreamRecord, revision: number): Promise<number | undefined> {
    try {
      const data = JSON.stringify(record);
      return revision === 0 ? await this.kv.create(id, data) : await this.kv.update(id, data, revision);
    } catch (error) {
      if (jsApiErrorCode(error) === JsErrCode.WRONG_LAST_SEQUENCE) return undefined;
      throw natsError(`writing stream record ${id}`, error);
    }
  }

  /** Removes the record if it is still at `revision`; false when it moved on. */
  async remove(id: string, revision: number): Promise<boolean> {
    try {
      await this.kv.delete(id, { previousSeq: revision });
      return true;
    } catch (error) {
      if (jsApiErrorCode(error) === JsErrCode.WRONG_LAST_SEQUENCE) return false;
      throw natsError(`deleting stream record ${id}`, error);
    }
  }
}
