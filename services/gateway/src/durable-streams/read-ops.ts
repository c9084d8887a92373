import type { StreamState } from "@threadline/protocol";
import { formatOffset, parseOffset } from "@threadline/protocol";
import type { FeedRegistry } from "../feed-registry.ts";
import { responseCursor } from "./cursor.ts";
import type { Chunk, ReadResult } from "./data-reader.ts";
import { type DsResponse, H } from "./ds-response.ts";
import { DurableStreamError } from "./errors.ts";
import { jsonArray } from "./json-mode.ts";
import { keepOf, LiveTap } from "./live-wait.ts";
import { isJsonType } from "./request-parse.ts";
import type { StreamView } from "./stream-views.ts";

/** Limits of the read path (PROTOCOL.md §21.7). */
export interface ReadSettings {
  /** A long-poll with nothing new answers 204 after this long. */
  longPollTimeoutMs: number;
  /** Content bytes per response (at least one append); the rest is the next request's. */
  readMaxBytes: number;
}

export interface ReadContext {
  settings: ReadSettings;
  feeds: FeedRegistry;
  epoch(): string;
  streamState(): Promise<StreamState>;
}

/** The response body of a range: a JSON array in JSON mode, the bytes concatenated otherwise. */
export function rangeBody(contentType: string, chunks: readonly Chunk[]): string | Uint8Array {
  if (isJsonType(contentType)) return jsonArray(chunks.flatMap((c) => c.json ?? []));
  const parts = chunks.map((c) => c.bytes ?? new TextEncoder().encode(jsonArray(c.json ?? [])));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * The seq a read starts after, from its `offset`: 0 for the beginning, the
 * tail for `now`. 400 for a malformed offset; 410 for an offset of another
 * NATS stream instance, one whose events retention may have removed, or one
 * past the stream's end (never issued, or history lost: PROTOCOL.md §8.1).
 */
export async function startSeq(ctx: ReadContext, view: StreamView, offset: string | undefined): Promise<number> {
  const parsed = parseOffset(offset, ctx.epoch());
  switch (parsed.kind) {
    case "invalid":
      throw new DurableStreamError("BAD_REQUEST", "offset is not -1, now or an offset this gateway issued");
    case "other-epoch":
      throw new DurableStreamError("GONE", "the offset belongs to a recreated stream (epoch changed); read from -1");
    case "start":
      return 0;
    case "now":
      return view.tailSeq;
    case "after": {
      const state = await ctx.streamState();
      if (parsed.seq > state.lastSeq)
        throw new DurableStreamError("GONE", "the offset is beyond the stream's end; read from -1");
      if (Math.max(parsed.seq, await view.floor()) + 1 < state.firstSeq)
        throw new DurableStreamError("GONE", "events after the offset were removed by retention; read from -1");
      return parsed.seq;
    }
  }
}

function closedAtTail(view: StreamView, result: ReadResult): boolean {
  return (view.closed || result.closed === true) && result.complete;
}

/** A 200 with a range (catch-up, or a long-poll that found data). */
export function rangeResponse(
  ctx: ReadContext,
  view: StreamView,
  result: ReadResult,
  request: { offset: string | undefined; ifNoneMatch: string; cursor: string | undefined; live: boolean },
): DsResponse {
  const nextSeq = result.complete ? Math.max(view.tailSeq, result.lastSeq) : result.lastSeq;
  const next = formatOffset(ctx.epoch(), nextSeq);
  const closed = closedAtTail(view, result);
  const etag = `"${Buffer.from(view.id).toString("base64url")}:${request.offset ?? "-1"}:${next}${closed ? ":c" : ""}"`;
  const headers: Record<string, string> = {
    "Content-Type": view.contentType,
    [H.NEXT_OFFSET]: next,
    ETag: etag,
    // A range that stops short of the tail never changes; one that reaches it does when data arrives.
    "Cache-Control": result.complete ? "private, no-cache" : "private, max-age=60, stale-while-revalidate=300",
  };
  if (result.complete) headers[H.UP_TO_DATE] = "true";
  if (closed) headers[H.CLOSED] = "true";
  if (request.live) headers[H.CURSOR] = responseCursor(request.cursor);
  if (request.ifNoneMatch === etag) return { status: "304 Not Modified", headers: { ETag: etag } };
  return { status: "200 OK", headers, body: rangeBody(view.contentType, result.chunks) };
}

/** `offset=now` without `live`: no data, the tail offset, not cacheable. */
export function nowResponse(ctx: ReadContext, view: StreamView): DsResponse {
  const headers: Record<string, string> = {
    "Content-Type": view.contentType,
    [H.NEXT_OFFSET]: formatOffset(ctx.epoch(), view.tailSeq),
    [H.UP_TO_DATE]: "true",
    "Cache-Control": "no-store",
  };
  if (view.closed) headers[H.CLOSED] = "true";
  return { status: "200 OK", headers, body: isJsonType(view.contentType) ? "[]" : "" };
}

/**
 * `live=long-poll`: answers at once when there is content after the offset
 * (or the stream is closed at the tail); otherwise waits on the session's
 * live feed for up to `longPollTimeoutMs` and answers the new content, or
 * 204 with the tail offset when nothing came.
 */
export async function longPoll(
  ctx: ReadContext,
  view: StreamView,
  reload: () => Promise<StreamView | undefined>,
  request: { offset: string | undefined; cursor: string | undefined; ifNoneMatch: string },
  signal: AbortSignal,
): Promise<DsResponse> {
  const after = await startSeq(ctx, view, request.offset);
  using tap = await LiveTap.open(ctx.feeds, view.id, view.signals, keepOf(view, ctx.settings.readMaxBytes));
  const deadline = Date.now() + ctx.settings.longPollTimeoutMs;
  let current = view;
  for (;;) {
    const result = await current.read(after, { maxBytes: ctx.settings.readMaxBytes });
    if (result.chunks.length > 0)
      return rangeResponse(ctx, current, result, { ...request, ifNoneMatch: "", live: true });
    if (current.closed || Date.now() >= deadline || signal.aborted)
      return idleResponse(ctx, current, after, request.cursor);
    const woke = await tap.next(Math.max(after, current.tailSeq), deadline - Date.now(), signal);
    // A session log: the feed's records are the content; no read of the stream.
    const taken = tap.takeAfter(after);
    if (taken && taken.chunks.length > 0)
      return rangeResponse(ctx, current, taken, { ...request, ifNoneMatch: "", live: true });
    if (taken && !woke) return idleResponse(ctx, current, after, request.cursor);
    const reloaded = await reload();
    if (!reloaded) throw new DurableStreamError("NOT_FOUND", `stream ${view.id} was deleted`);
    current = reloaded;
    if (!woke && !current.closed) return idleResponse(ctx, current, after, request.cursor);
  }
}

function idleResponse(
  ctx: ReadContext,
  view: StreamView,
  after: number,
  cursor: string | undefined,
  closed = false,
): DsResponse {
  const headers: Record<string, string> = {
    [H.NEXT_OFFSET]: formatOffset(ctx.epoch(), Math.max(after, view.tailSeq)),
    [H.UP_TO_DATE]: "true",
    [H.CURSOR]: responseCursor(cursor),
    "Cache-Control": "no-store",
  };
  if (view.closed || closed) headers[H.CLOSED] = "true";
  return { status: "204 No Content", headers };
}
