import type { Participant } from "@threadline/protocol";
import { formatOffset, parseOffset } from "@threadline/protocol";
import { type DataEventBody, producerEventId, SubjectMovedError } from "./data-log.ts";
import { readSegments, segmentsOf } from "./data-reader.ts";
import { type DataStreams, type LoadedStream, sameConfig } from "./data-streams.ts";
import { type DsResponse, H } from "./ds-response.ts";
import { DurableStreamError } from "./errors.ts";
import { jsonMessages } from "./json-mode.ts";
import { decideProducer } from "./producer.ts";
import { type AppendRequest, type CreateRequest, isJsonType, mediaType } from "./request-parse.ts";
import { SESSION_LOG_CONTENT_TYPE } from "./stream-views.ts";

/** Rounds of "another writer moved the data subject, re-validate and retry" before answering 503. */
const MAX_WRITE_ROUNDS = 8;

export interface WriteContext {
  data: DataStreams;
  epoch(): string;
}

function offsetOf(ctx: WriteContext, seq: number): string {
  return formatOffset(ctx.epoch(), seq);
}

function conflict(message: string, headers?: Record<string, string>): DurableStreamError {
  return new DurableStreamError("CONFLICT", message, headers ? { headers } : {});
}

/** Retries a write while another writer (another replica) moves the stream's data subject under it. */
async function retrying<T>(id: string, attempt: () => Promise<T>): Promise<T> {
  for (let round = 0; ; round++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof SubjectMovedError) || round >= MAX_WRITE_ROUNDS) {
        if (error instanceof SubjectMovedError)
          throw new DurableStreamError("UNAVAILABLE", `stream ${id} is being written concurrently; retry`);
        throw error;
      }
    }
  }
}

/**
 * PUT (PROTOCOL.md §21.3): creates a data stream — optionally a fork of
 * another at an offset (and sub-offset), with initial content, closed — or
 * confirms an existing one with the same configuration (200); 409 otherwise.
 * A session log (a session with events but no record) exists as a JSON
 * stream without TTL: a matching PUT is 200, anything else 409.
 */
export function create(
  ctx: WriteContext,
  id: string,
  request: CreateRequest,
  body: Uint8Array,
  by: Participant,
  /** The stream's absolute URL, for `Location` on 201. */
  location: string,
): Promise<DsResponse> {
  return ctx.data.lock.run(id, () => retrying(id, () => createOnce(ctx, id, request, body, by, location)));
}

async function createOnce(
  ctx: WriteContext,
  id: string,
  request: CreateRequest,
  body: Uint8Array,
  by: Participant,
  location: string,
): Promise<DsResponse> {
  const existing = await ctx.data.load(id);
  if (existing) return confirmExisting(ctx, existing, request);
  const sessionTail = await ctx.data.log.lastSessionSeq(id);
  if (sessionTail > 0) {
    const matches =
      request.fork === undefined &&
      !request.closed &&
      request.ttlSeconds === undefined &&
      request.expiresAt === undefined &&
      mediaType(request.contentType ?? "") === SESSION_LOG_CONTENT_TYPE;
    if (!matches) throw conflict(`stream ${id} is a session log (application/json, no TTL, not closable)`);
    return {
      status: "200 OK",
      headers: { "Content-Type": SESSION_LOG_CONTENT_TYPE, [H.NEXT_OFFSET]: offsetOf(ctx, sessionTail) },
    };
  }
  let contentType = request.contentType;
  let ttlSeconds = request.ttlSeconds;
  let expiresAt = request.expiresAt;
  let fork: { source: string; seq: number; offset: string; subOffset: number } | undefined;
  let prefix: DataEventBody | undefined;
  if (request.fork) {
    const source = await ctx.data.load(request.fork.source);
    if (!source) throw new DurableStreamError("NOT_FOUND", `fork source ${request.fork.source} does not exist`);
    if (source.value.softDeleted) throw conflict(`fork source ${request.fork.source} was deleted`);
    if (contentType !== undefined && mediaType(contentType) !== mediaType(source.value.contentType))
      throw conflict("a fork has its source's content type");
    contentType ??= source.value.contentType;
    const seq = forkSeq(ctx, request.fork.offset, source);
    if (ttlSeconds === undefined && expiresAt === undefined) {
      ttlSeconds = source.value.ttlSeconds;
      expiresAt = source.value.expiresAt;
    }
    fork = { source: source.id, seq, offset: offsetOf(ctx, seq), subOffset: request.fork.subOffset };
    if (request.fork.subOffset > 0) prefix = await subOffsetPrefix(ctx, source, seq, request.fork.subOffset, by);
  }
  const type = contentType ?? "application/octet-stream";
  const initial = body.byteLength > 0 ? appendBody(type, body, true, by) : undefined;
  let stream = await ctx.data.createRecord(
    id,
    {
      contentType: type,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...(fork === undefined ? {} : { fork }),
    },
    fork?.seq ?? 0,
  );
  if (!stream) {
    const raced = await ctx.data.load(id);
    if (!raced) throw new DurableStreamError("UNAVAILABLE", `stream ${id} is being created concurrently; retry`);
    return confirmExisting(ctx, raced, request);
  }
  if (fork && !(await ctx.data.reference(fork.source, 1))) {
    await ctx.data.delete(stream);
    throw new DurableStreamError("NOT_FOUND", `fork source ${fork.source} does not exist`);
  }
  if (prefix) stream = (await ctx.data.write(stream, "stream.append", prefix, undefined)).stream;
  if (initial && (initial.bytes || (initial.json?.length ?? 0) > 0))
    stream = (await ctx.data.write(stream, "stream.append", initial, undefined)).stream;
  if (request.closed) stream = (await ctx.data.write(stream, "stream.close", { by }, undefined)).stream;
  const headers: Record<string, string> = {
    "Content-Type": stream.value.contentType,
    [H.NEXT_OFFSET]: offsetOf(ctx, stream.value.tailSeq),
    Location: location,
  };
  if (stream.value.closed) headers[H.CLOSED] = "true";
  return { status: "201 Created", headers };
}

function confirmExisting(ctx: WriteContext, existing: LoadedStream, request: CreateRequest): DsResponse {
  if (existing.value.softDeleted)
    throw conflict(`stream ${existing.id} was deleted but forks still read it; the path cannot be reused yet`);
  const contentType = request.contentType ?? existing.value.contentType;
  const forkOffset = request.fork?.offset;
  const parsed = forkOffset === undefined ? undefined : parseOffset(forkOffset, ctx.epoch());
  const sameFork =
    parsed === undefined ||
    (parsed.kind === "start" && existing.value.fork?.seq === 0) ||
    (parsed.kind === "after" && existing.value.fork?.seq === parsed.seq);
  if (!sameFork || !sameConfig(existing.value, { ...request, contentType }))
    throw conflict(`stream ${existing.id} exists with another configuration`);
  const headers: Record<string, string> = {
    "Content-Type": existing.value.contentType,
    [H.NEXT_OFFSET]: offsetOf(ctx, existing.value.tailSeq),
  };
  if (existing.value.closed) headers[H.CLOSED] = "true";
  return { status: "200 OK", headers };
}

/** The seq a fork diverges at: its offset (0 = empty fork; absent = the source's tail), never past the source's tail. */
function forkSeq(ctx: WriteContext, offset: string | undefined, source: LoadedStream): number {
  if (offset === undefined) return source.value.tailSeq;
  const parsed = parseOffset(offset, ctx.epoch());
  if (parsed.kind === "start") return 0;
  if (parsed.kind !== "after" || parsed.seq > source.value.tailSeq)
    throw new DurableStreamError(
      "BAD_REQUEST",
      "Stream-Fork-Offset is not an offset of the source at or before its tail",
    );
  return parsed.seq;
}

/** The first `subOffset` bytes (or JSON messages) of the source's append after the fork point, as the fork's first own append. */
async function subOffsetPrefix(
  ctx: WriteContext,
  source: LoadedStream,
  seq: number,
  subOffset: number,
  by: Participant,
): Promise<DataEventBody> {
  const segments = await segmentsOf(ctx.data.records, source.id, source.value);
  const { chunks } = await readSegments(ctx.data.log, segments, seq, { maxBytes: 1 });
  const first = chunks[0];
  const size = first?.bytes?.byteLength ?? first?.json?.length ?? 0;
  if (!first || subOffset > size)
    throw new DurableStreamError("BAD_REQUEST", "Stream-Fork-Sub-Offset is beyond the source's next append");
  return first.bytes
    ? { bytes: first.bytes.slice(0, subOffset), by }
    : { json: (first.json ?? []).slice(0, subOffset), by };
}

/** An append's event body from a request body (JSON streams: validated and flattened). */
function appendBody(contentType: string, body: Uint8Array, forCreate: boolean, by: Participant): DataEventBody {
  return isJsonType(contentType) ? { json: jsonMessages(body, forCreate), by } : { bytes: body, by };
}

/**
 * POST on a data stream (PROTOCOL.md §21.4–21.5): append (and optionally
 * close), or close only (empty body with `Stream-Closed: true`), checked
 * against closure, content type, idempotent producer state and `Stream-Seq`.
 */
export function append(
  ctx: WriteContext,
  stream: LoadedStream,
  request: AppendRequest,
  body: Uint8Array,
  by: Participant,
): Promise<DsResponse> {
  const id = stream.id;
  return ctx.data.lock.run(id, () =>
    retrying(id, async () => {
      const current = await ctx.data.load(id);
      if (!current) throw new DurableStreamError("NOT_FOUND", `stream ${id} does not exist`);
      if (current.value.softDeleted) throw new DurableStreamError("GONE", `stream ${id} was deleted`);
      return appendOnce(ctx, current, request, body, by);
    }),
  );
}

async function appendOnce(
  ctx: WriteContext,
  stream: LoadedStream,
  request: AppendRequest,
  body: Uint8Array,
  by: Participant,
): Promise<DsResponse> {
  const record = stream.value;
  const { producer } = request;
  const closeOnly = body.byteLength === 0 && request.close;
  const producerHeaders = (seq: number): Record<string, string> =>
    producer ? { [H.PRODUCER_EPOCH]: String(producer.epoch), [H.PRODUCER_SEQ]: String(seq) } : {};
  const tail = () => offsetOf(ctx, record.tailSeq);
  if (!closeOnly) {
    if (body.byteLength === 0) throw new DurableStreamError("BAD_REQUEST", "an append needs a non-empty body");
    if (request.contentType === "") throw new DurableStreamError("BAD_REQUEST", "Content-Type is required");
  }
  if (record.closed) {
    const by = record.closedBy;
    if (producer && by && by.id === producer.id && by.epoch === producer.epoch && by.seq === producer.seq)
      return {
        status: "204 No Content",
        headers: { [H.NEXT_OFFSET]: tail(), [H.CLOSED]: "true", ...producerHeaders(producer.seq) },
      };
    if (closeOnly && !producer)
      return { status: "204 No Content", headers: { [H.NEXT_OFFSET]: tail(), [H.CLOSED]: "true" } };
    throw conflict(`stream ${stream.id} is closed`, { [H.CLOSED]: "true", [H.NEXT_OFFSET]: tail() });
  }
  if (!closeOnly && mediaType(request.contentType) !== mediaType(record.contentType))
    throw conflict(`stream ${stream.id} has content type ${record.contentType}`);
  const content = closeOnly ? undefined : appendBody(record.contentType, body, false, by);
  if (producer) {
    const decision = decideProducer(record.producers[producer.id], producer.epoch, producer.seq, Date.now());
    switch (decision.status) {
      case "duplicate":
        return { status: "204 No Content", headers: producerHeaders(decision.lastSeq) };
      case "stale-epoch":
        throw new DurableStreamError("STALE_PRODUCER_EPOCH", "the producer epoch is older than the stream's", {
          headers: { [H.PRODUCER_EPOCH]: String(decision.currentEpoch) },
        });
      case "invalid-epoch-seq":
        throw new DurableStreamError("BAD_REQUEST", "a new producer epoch must start at Producer-Seq 0");
      case "sequence-gap":
        throw new DurableStreamError("PRODUCER_SEQUENCE_GAP", "Producer-Seq skipped sequence numbers", {
          headers: {
            [H.PRODUCER_EXPECTED_SEQ]: String(decision.expected),
            [H.PRODUCER_RECEIVED_SEQ]: String(decision.received),
          },
        });
      case "accepted":
        break;
    }
  }
  if (
    request.streamSeq !== undefined &&
    record.lastStreamSeq !== undefined &&
    request.streamSeq <= record.lastStreamSeq
  )
    throw conflict(`Stream-Seq ${request.streamSeq} is not after ${record.lastStreamSeq}`);
  const event: DataEventBody = {
    ...(content ?? { by }),
    ...(producer ? { producer } : {}),
    ...(request.streamSeq === undefined ? {} : { streamSeq: request.streamSeq }),
    ...(request.close && !closeOnly ? { close: true as const } : {}),
  };
  const eventId = producer ? producerEventId(record.incarnation, producer, closeOnly) : undefined;
  const { stream: after } = await ctx.data.write(stream, closeOnly ? "stream.close" : "stream.append", event, eventId);
  const headers: Record<string, string> = {
    [H.NEXT_OFFSET]: offsetOf(ctx, after.value.tailSeq),
    ...producerHeaders(producer?.seq ?? 0),
  };
  if (after.value.closed) headers[H.CLOSED] = "true";
  return { status: producer && !closeOnly ? "200 OK" : "204 No Content", headers };
}

/** DELETE of a data stream: 204; soft while forks read it (PROTOCOL.md §21.3). */
export function remove(ctx: WriteContext, id: string): Promise<DsResponse> {
  return ctx.data.lock.run(id, async () => {
    const stream = await ctx.data.load(id);
    if (!stream) throw new DurableStreamError("NOT_FOUND", `stream ${id} does not exist`);
    if (stream.value.softDeleted) throw new DurableStreamError("GONE", `stream ${id} was deleted`);
    await ctx.data.delete(stream);
    return { status: "204 No Content", headers: {} };
  });
}
