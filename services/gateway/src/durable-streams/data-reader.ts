import type { DataLog } from "./data-log.ts";
import type { StreamRecord, StreamRecords } from "./stream-records.ts";

/** Longest fork chain a read follows (a fork of a fork of …). Deeper chains are refused at creation. */
export const MAX_FORK_DEPTH = 16;

/** A stretch of one stream's own data events: seqs in (`after`, `upTo`]. */
export interface Segment {
  id: string;
  after: number;
  upTo: number;
}

/**
 * Where a data stream's content lives: its fork chain's inherited prefixes
 * (each source's own data up to the fork point, recursively), then its own
 * data. Seqs increase across segments (a fork is created after its fork
 * point, so its own data comes later in the NATS stream), which is what makes
 * one offset space span the chain.
 */
export async function segmentsOf(
  records: StreamRecords,
  id: string,
  record: StreamRecord,
  upTo: number = Number.MAX_SAFE_INTEGER,
  depth = 0,
): Promise<Segment[]> {
  const own: Segment = { id, after: record.createdAfter, upTo };
  if (!record.fork || depth >= MAX_FORK_DEPTH) return [own];
  const source = await records.get(record.fork.source);
  const cap = Math.min(record.fork.seq, upTo);
  const inherited = source ? await segmentsOf(records, record.fork.source, source.value, cap, depth + 1) : [];
  return [...inherited, own];
}

/** One append as a read returns it. */
export interface Chunk {
  seq: number;
  bytes?: Uint8Array;
  json?: unknown[];
}

export interface ReadResult {
  chunks: Chunk[];
  /** Seq of the last chunk (or the `after` of the read when none). */
  lastSeq: number;
  /** Everything stored after `after` is in `chunks` (no size limit cut the read short). */
  complete: boolean;
  /**
   * The read met the stream's close (a close marker, or an append that closed
   * it): the stream is closed even if the record a caller loaded is older.
   */
  closed?: boolean;
}

export interface ReadLimits {
  /** Content bytes per read: an append that would go past it is left for the next read (the first always fits). */
  maxBytes: number;
}

function chunkBytes(chunk: Chunk): number {
  return chunk.bytes?.byteLength ?? JSON.stringify(chunk.json).length;
}

/** Reads the appends after `after` across the segments, up to the size limit. */
export async function readSegments(
  log: DataLog,
  segments: readonly Segment[],
  after: number,
  limits: ReadLimits,
): Promise<ReadResult> {
  const chunks: Chunk[] = [];
  let bytes = 0;
  let lastSeq = after;
  let closed = false;
  const own = segments[segments.length - 1];
  for (const segment of segments) {
    const from = Math.max(after, segment.after);
    for await (const batch of log.read(segment.id, from, segment.upTo)) {
      for (const event of batch) {
        if (segment === own && (event.type === "stream.close" || event.body.close)) closed = true;
        if (event.type !== "stream.append") continue;
        const chunk: Chunk = {
          seq: event.seq,
          ...(event.body.bytes ? { bytes: event.body.bytes } : { json: event.body.json ?? [] }),
        };
        const size = chunkBytes(chunk);
        if (chunks.length > 0 && bytes + size > limits.maxBytes) return { chunks, lastSeq, complete: false };
        chunks.push(chunk);
        lastSeq = event.seq;
        bytes += size;
      }
    }
  }
  return { chunks, lastSeq, complete: true, closed };
}
