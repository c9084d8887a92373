import { formatOffset } from "@threadline/protocol";
import { responseCursor } from "./cursor.ts";
import type { Chunk, ReadResult } from "./data-reader.ts";
import { H } from "./ds-response.ts";
import { DurableStreamError } from "./errors.ts";
import { jsonArray } from "./json-mode.ts";
import { keepOf, LiveTap } from "./live-wait.ts";
import { type ReadContext, startSeq } from "./read-ops.ts";
import { isJsonType, isTextType } from "./request-parse.ts";
import type { StreamView } from "./stream-views.ts";

/** Where an SSE response goes: the HTTP layer writes (and flushes) text; `end` closes the response. */
export interface SseSink {
  /** Sends the status line and headers (once, before the first event). */
  open(headers: Record<string, string>): void;
  write(text: string): void;
  /** Resolves when what was written has been flushed to the client (a slow reader holds the loop, not memory). */
  drained(): Promise<void>;
  end(): void;
}

/**
 * One SSE line per payload line (CR, LF and CRLF all end a line, so a
 * payload can never inject an event), each `data:` prefixed, then a blank line.
 */
export function sseEvent(type: "data" | "control", payload: string): string {
  return `event: ${type}\n${payload
    .split(/\r\n|\r|\n/)
    .map((line) => `data:${line}`)
    .join("\n")}\n\n`;
}

function dataPayload(contentType: string, chunk: Chunk): string {
  if (isJsonType(contentType)) return jsonArray(chunk.json ?? []);
  const bytes = chunk.bytes ?? new TextEncoder().encode(jsonArray(chunk.json ?? []));
  return isTextType(contentType) ? new TextDecoder().decode(bytes) : Buffer.from(bytes).toString("base64");
}

export interface SseSettings {
  /** Close an SSE response after this long (clients reconnect from the last control offset; CDNs collapse). */
  sseMaxMs: number;
}

/**
 * `live=sse` (PROTOCOL.md §21.6): `data` events with each append (JSON
 * streams: the append's messages as an array; other text: as is; anything
 * else base64 with `Stream-SSE-Data-Encoding: base64`), each followed by a
 * `control` event `{streamNextOffset, streamCursor, upToDate?}`; a closed
 * stream ends with `{streamNextOffset, streamClosed: true}`. Live content
 * comes through the session's feed; the response ends after `sseMaxMs`.
 */
export async function serveSse(
  ctx: ReadContext & { sse: SseSettings },
  view: StreamView,
  reload: () => Promise<StreamView | undefined>,
  request: { offset: string | undefined; cursor: string | undefined },
  sink: SseSink,
  signal: AbortSignal,
): Promise<void> {
  let after = await startSeq(ctx, view, request.offset);
  using tap = await LiveTap.open(ctx.feeds, view.id, view.signals, keepOf(view, ctx.settings.readMaxBytes));
  const headers: Record<string, string> = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
  };
  if (!isTextType(view.contentType)) headers[H.SSE_ENCODING] = "base64";
  sink.open(headers);
  const deadline = Date.now() + ctx.sse.sseMaxMs;
  const epoch = ctx.epoch();
  const control = (seq: number, upToDate: boolean, closed: boolean) => {
    const body: Record<string, unknown> = { streamNextOffset: formatOffset(epoch, seq) };
    if (closed) body.streamClosed = true;
    else {
      body.streamCursor = responseCursor(request.cursor);
      if (upToDate) body.upToDate = true;
    }
    sink.write(sseEvent("control", JSON.stringify(body)));
  };
  let current = view;
  /** New content the tap kept (session logs), so this round reads nothing from the stream. */
  let taken: ReadResult | undefined;
  try {
    while (!signal.aborted) {
      const result = taken ?? (await current.read(after, { maxBytes: ctx.settings.readMaxBytes }));
      taken = undefined;
      const tail = result.complete ? Math.max(current.tailSeq, result.lastSeq) : result.lastSeq;
      const closed = current.closed || result.closed === true;
      result.chunks.forEach((chunk, i) => {
        sink.write(sseEvent("data", dataPayload(current.contentType, chunk)));
        const last = i === result.chunks.length - 1;
        const seq = last ? tail : chunk.seq;
        control(seq, last && result.complete, last && result.complete && closed);
      });
      if (result.chunks.length === 0) control(tail, result.complete, result.complete && closed);
      after = tail;
      await sink.drained();
      if (result.complete && closed) return;
      if (!result.complete) continue;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return;
      // Woken or not (a timeout sends a keep-alive control with the next round), re-read from the tail.
      await tap.next(after, Math.min(remaining, ctx.settings.longPollTimeoutMs), signal);
      taken = tap.takeAfter(after);
      if (taken) continue;
      const reloaded = await reload();
      if (!reloaded) return;
      current = reloaded;
    }
  } catch (error) {
    if (!(error instanceof DurableStreamError)) throw error;
  } finally {
    sink.end();
  }
}
