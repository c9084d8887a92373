import type { FeedRecord } from "../feed-record.ts";
import type { SessionHistory } from "../session-history.ts";
import { type Chunk, type ReadLimits, type ReadResult, readSegments, segmentsOf } from "./data-reader.ts";
import type { DataStreams, LoadedStream } from "./data-streams.ts";

/** The content type of a session log (PROTOCOL.md §21.2): JSON mode, one message per event. */
export const SESSION_LOG_CONTENT_TYPE = "application/json";

/**
 * A stream as a read sees it: a **data stream** (created with PUT, its
 * appends on the data lane) or a **session log** (a Threadline session that
 * was never PUT: every event, as `{epoch, seq, event}` JSON messages).
 */
export interface StreamView {
  kind: "data" | "session";
  id: string;
  contentType: string;
  /** The tail: the seq the last content ends at (the next offset of a reader that has everything). */
  tailSeq: number;
  closed: boolean;
  ttlSeconds: number | undefined;
  expiresAt: string | undefined;
  /** Deleted while forks still read it: 410 for clients. */
  gone: boolean;
  /** The data stream behind the view (for touches), if any. */
  stream: LoadedStream | undefined;
  /** No content of this stream has a seq at or below this (retention cannot have removed any of it there). */
  floor(): Promise<number>;
  /** Content after `after`, in order, up to the limits. */
  read(after: number, limits: ReadLimits): Promise<ReadResult>;
  /** Whether a live feed record may be new content (or a close) of this stream. */
  signals(record: FeedRecord): boolean;
  /**
   * Session logs: the message a live feed record is (every record of the
   * session is content), so live readers take it from the feed instead of
   * reading the stream again (LiveTap `keep`). Undefined for data streams.
   */
  message: ((record: FeedRecord) => unknown) | undefined;
}

export interface ViewDeps {
  data: DataStreams;
  history: SessionHistory;
  epoch(): string;
}

/** The view of stream `id`, or undefined when it does not exist (no record and no event). */
export async function resolveView(deps: ViewDeps, id: string): Promise<StreamView | undefined> {
  const stream = await deps.data.load(id);
  if (stream) return dataView(deps, stream);
  const tailSeq = await deps.data.log.lastSessionSeq(id);
  return tailSeq > 0 ? sessionView(deps, id, tailSeq) : undefined;
}

function dataView(deps: ViewDeps, stream: LoadedStream): StreamView {
  const record = stream.value;
  const subject = deps.data.log.subject(stream.id);
  return {
    kind: "data",
    id: stream.id,
    contentType: record.contentType,
    tailSeq: record.tailSeq,
    closed: record.closed,
    ttlSeconds: record.ttlSeconds,
    expiresAt: record.expiresAt,
    gone: record.softDeleted,
    stream,
    async floor() {
      const segments = await segmentsOf(deps.data.records, stream.id, record);
      return Math.min(...segments.map((s) => s.after));
    },
    async read(after, limits) {
      const segments = await segmentsOf(deps.data.records, stream.id, record);
      return readSegments(deps.data.log, segments, after, limits);
    },
    signals: (r) => r.subject === subject,
    message: undefined,
  };
}

export function sessionView(deps: ViewDeps, id: string, tailSeq: number): StreamView {
  return {
    kind: "session",
    id,
    contentType: SESSION_LOG_CONTENT_TYPE,
    tailSeq,
    closed: false,
    ttlSeconds: undefined,
    expiresAt: undefined,
    gone: false,
    stream: undefined,
    floor: async () => 0,
    async read(after, limits) {
      const chunks: Chunk[] = [];
      let bytes = 0;
      let lastSeq = after;
      const epoch = deps.epoch();
      for await (const batch of deps.history.read(id, after)) {
        for (const record of batch) {
          if (chunks.length > 0 && bytes + record.size > limits.maxBytes) return { chunks, lastSeq, complete: false };
          chunks.push({ seq: record.seq, json: [sessionMessage(epoch, record)] });
          lastSeq = record.seq;
          bytes += record.size;
        }
      }
      return { chunks, lastSeq, complete: true };
    },
    signals: () => true,
    message: (record) => sessionMessage(deps.epoch(), record),
  };
}

/** A session log message (PROTOCOL.md §21.2): `{epoch, seq, event}`. */
function sessionMessage(epoch: string, record: FeedRecord): unknown {
  return { epoch, seq: record.seq, event: record.event };
}
