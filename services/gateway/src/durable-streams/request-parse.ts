import { DurableStreamError } from "./errors.ts";

/**
 * Pure parsing of Durable Streams request headers and query parameters
 * (PROTOCOL.md §21). Every function returns the parsed value or throws a
 * `DurableStreamError("BAD_REQUEST")` naming what is wrong; nothing here
 * touches storage. `header(name)` returns a lowercase-named request header,
 * `""` when absent (uWebSockets.js semantics), so "present but empty" and
 * "absent" are told apart with `has(name)` where the protocol cares.
 */
export interface RequestHeaders {
  get(name: string): string;
  has(name: string): boolean;
}

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
const CONTENT_TYPE_PATTERN = /^[\w.+-]+\/[\w.+-]+/;
const DECIMAL = /^(0|[1-9]\d*)$/;
const NON_NEGATIVE_INTEGER = /^\d+$/;
/** Producer ids are stored per stream (PROTOCOL.md §21.5); longer ones are refused. */
export const MAX_PRODUCER_ID_LENGTH = 256;
/** `Stream-Seq` values are stored per stream; longer ones are refused. */
export const MAX_STREAM_SEQ_LENGTH = 256;

/** The media type of a content type, lowercased, without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

export function isJsonType(contentType: string): boolean {
  return mediaType(contentType) === "application/json";
}

/** SSE carries text (`text/*`, `application/json`) as is and anything else as base64. */
export function isTextType(contentType: string): boolean {
  const media = mediaType(contentType);
  return media.startsWith("text/") || media === "application/json";
}

export interface ForkRequest {
  /** The source stream's id (the last segment of `Stream-Forked-From`). */
  source: string;
  /** `Stream-Fork-Offset` as sent; undefined = the source's tail. */
  offset: string | undefined;
  /** `Stream-Fork-Sub-Offset` (bytes for byte streams, messages for JSON streams); 0 when absent. */
  subOffset: number;
}

export interface CreateRequest {
  /** Undefined when a fork omitted it (inherited from the source). */
  contentType: string | undefined;
  ttlSeconds: number | undefined;
  expiresAt: string | undefined;
  closed: boolean;
  fork: ForkRequest | undefined;
}

function bad(message: string): DurableStreamError {
  return new DurableStreamError("BAD_REQUEST", message);
}

/** The stream id named by a stream path (`/v1/stream/<id>`), or undefined for another path. */
export function streamIdOfPath(path: string, base: string): string | undefined {
  const prefix = `${base}/`;
  if (!path.startsWith(prefix)) return undefined;
  const id = path.slice(prefix.length);
  return id.length > 0 && !id.includes("/") ? id : undefined;
}

/** PUT: content type, TTL or expiry (not both), `Stream-Closed`, fork headers. */
export function parseCreate(headers: RequestHeaders, base: string): CreateRequest {
  const forkedFrom = headers.get("stream-forked-from");
  const rawType = headers.get("content-type").trim();
  const contentType = CONTENT_TYPE_PATTERN.test(rawType) ? rawType : forkedFrom ? undefined : DEFAULT_CONTENT_TYPE;
  const ttl = headers.get("stream-ttl");
  const expires = headers.get("stream-expires-at");
  if (ttl && expires) throw bad("Stream-TTL and Stream-Expires-At are mutually exclusive");
  let ttlSeconds: number | undefined;
  if (headers.has("stream-ttl")) {
    if (!DECIMAL.test(ttl) || !Number.isSafeInteger(Number(ttl))) throw bad("Stream-TTL must be a decimal integer ≥ 0");
    ttlSeconds = Number(ttl);
  }
  let expiresAt: string | undefined;
  if (headers.has("stream-expires-at")) {
    if (!Number.isFinite(Date.parse(expires))) throw bad("Stream-Expires-At must be an RFC 3339 timestamp");
    expiresAt = expires;
  }
  let fork: ForkRequest | undefined;
  if (headers.has("stream-fork-sub-offset") && !forkedFrom)
    throw bad("Stream-Fork-Sub-Offset requires Stream-Forked-From");
  if (forkedFrom) {
    const source = streamIdOfPath(forkedFrom, base) ?? (forkedFrom.includes("/") ? undefined : forkedFrom);
    if (source === undefined) throw bad("Stream-Forked-From must name a stream path");
    const offset = headers.get("stream-fork-offset") || undefined;
    if (offset !== undefined && !/^\d+_\d+$/.test(offset)) throw bad("Stream-Fork-Offset is not an offset");
    let subOffset = 0;
    if (headers.has("stream-fork-sub-offset")) {
      const sub = headers.get("stream-fork-sub-offset");
      if (!DECIMAL.test(sub) || !Number.isSafeInteger(Number(sub)))
        throw bad("Stream-Fork-Sub-Offset must be a decimal integer ≥ 0");
      subOffset = Number(sub);
    }
    fork = { source, offset, subOffset };
  }
  return { contentType, ttlSeconds, expiresAt, closed: headers.get("stream-closed") === "true", fork };
}

export interface ProducerHeaders {
  id: string;
  epoch: number;
  seq: number;
}

export interface AppendRequest {
  contentType: string;
  /** `Stream-Seq`: a writer sequence compared byte-wise with the last one. */
  streamSeq: string | undefined;
  producer: ProducerHeaders | undefined;
  close: boolean;
}

function safeInteger(value: string, name: string): number {
  const n = Number(value);
  if (!NON_NEGATIVE_INTEGER.test(value) || !Number.isSafeInteger(n)) throw bad(`${name} must be an integer 0…2^53-1`);
  return n;
}

/** POST: `Content-Type`, `Stream-Seq`, the three producer headers (all or none), `Stream-Closed`. */
export function parseAppend(headers: RequestHeaders): AppendRequest {
  const present = ["producer-id", "producer-epoch", "producer-seq"].filter((h) => headers.has(h));
  if (present.length > 0 && present.length < 3)
    throw bad("Producer-Id, Producer-Epoch and Producer-Seq must be sent together");
  let producer: ProducerHeaders | undefined;
  if (present.length === 3) {
    const id = headers.get("producer-id");
    if (id === "") throw bad("Producer-Id must not be empty");
    if (id.length > MAX_PRODUCER_ID_LENGTH) throw bad(`Producer-Id is longer than ${MAX_PRODUCER_ID_LENGTH}`);
    producer = {
      id,
      epoch: safeInteger(headers.get("producer-epoch"), "Producer-Epoch"),
      seq: safeInteger(headers.get("producer-seq"), "Producer-Seq"),
    };
  }
  const streamSeq = headers.has("stream-seq") ? headers.get("stream-seq") : undefined;
  if (streamSeq !== undefined && streamSeq.length > MAX_STREAM_SEQ_LENGTH)
    throw bad(`Stream-Seq is longer than ${MAX_STREAM_SEQ_LENGTH}`);
  return {
    contentType: headers.get("content-type").trim(),
    streamSeq,
    producer,
    close: headers.get("stream-closed") === "true",
  };
}

export type LiveMode = "long-poll" | "sse" | undefined;

export interface ReadRequest {
  /** The raw `offset` value; undefined when absent. */
  offset: string | undefined;
  live: LiveMode;
  cursor: string | undefined;
}

/**
 * GET query: at most one non-empty `offset`, `live` = `long-poll` | `sse`
 * (which need an offset), `cursor`. Unknown parameters are ignored.
 */
export function parseRead(query: string): ReadRequest {
  const params = new URLSearchParams(query);
  const offsets = params.getAll("offset");
  if (offsets.length > 1) throw bad("more than one offset parameter");
  const offset = offsets[0];
  if (offset === "") throw bad("empty offset parameter");
  const liveValue = params.get("live");
  let live: LiveMode;
  if (liveValue === "long-poll" || liveValue === "sse") live = liveValue;
  else if (liveValue !== null && liveValue !== "" && liveValue !== "false")
    throw bad(`live must be long-poll or sse (got ${JSON.stringify(liveValue.slice(0, 32))})`);
  if (live !== undefined && offset === undefined) throw bad(`live=${live} requires an offset`);
  return { offset, live, cursor: params.get("cursor") ?? undefined };
}
