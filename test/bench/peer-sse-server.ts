import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createResumableStreamContext } from "resumable-stream";
import { liveEventJson, resumeEventJson, sseEvent } from "./peer-events.ts";
import { mapLimit } from "./pool.ts";
import { wallClockMs } from "./stats.ts";
import { runSteadySchedule } from "./steady-schedule.ts";
import { fromBench, toBench } from "./worker-process.ts";

/**
 * Worker process of the `peers` scenario for the two systems whose writer
 * lives in the server (an agent streaming inside its route handler):
 *
 * - `PEER_MODE=plain`: plain SSE, no storage. Each stream's events are kept
 *   in an array in this process (the least a Last-Event-ID resume needs) and
 *   written to every open response; `GET /stream/<name>?from=<position>`
 *   writes the events after `position` in one write, then follows.
 * - `PEER_MODE=resumable-stream`: `resumable-stream` (its `redis` client,
 *   `REDIS_URL`). Each stream is a producer (`createNewResumableStream`);
 *   every reader follows through Redis pub/sub with `resumeExistingStream`
 *   (`GET /stream/<name>?skip=<characters>`), the library's resume path.
 *   The producer's own response is cancelled: nobody reads it here.
 *
 * Every response starts with the comment `: connected` once the reader is
 * registered. Events are `id: <n>\ndata: <json>\n\n` (peer-events.ts).
 *
 * Protocol with the bench (IPC):
 *   → ready {port}
 *   ← fill {stream, count}            → filled       (count resume events, all in place)
 *   ← create {streams}                → created
 *   ← start {streams, ratePerSession, durationMs}
 *                                     → done {generated: number[], schedule}
 */
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" };
/** Streams created concurrently (each is a Redis SUBSCRIBE and SET for resumable-stream). */
const CREATE_CONCURRENCY = 32;

/** Where a stream's events live and how a reader is served. */
interface SseBackend {
  create(stream: string): Promise<void>;
  append(stream: string, chunk: string): void;
  /** Resolves once every appended chunk is where a new reader gets it from. */
  settled(stream: string): Promise<void>;
  /** Serves one reader of `stream` (404 for an unknown stream). */
  serve(stream: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

class PlainBackend implements SseBackend {
  private readonly streams = new Map<string, { chunks: string[]; responses: Set<ServerResponse> }>();

  async create(stream: string): Promise<void> {
    this.streams.set(stream, { chunks: [], responses: new Set() });
  }

  append(stream: string, chunk: string): void {
    const s = this.streams.get(stream)!;
    s.chunks.push(chunk);
    for (const res of s.responses) res.write(chunk);
  }

  async settled(): Promise<void> {}

  async serve(stream: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = this.streams.get(stream);
    if (!s) {
      res.writeHead(404).end();
      return;
    }
    const from = Number(url.searchParams.get("from") ?? 0);
    res.writeHead(200, SSE_HEADERS);
    res.write(`: connected\n\n${s.chunks.slice(from).join("")}`);
    s.responses.add(res);
    req.on("close", () => s.responses.delete(res));
  }
}

/**
 * The producer's source stream: chunks pushed by the bench's schedule.
 * `highWaterMark: 0`, so `pull` runs exactly when the producer waits for
 * the next chunk with nothing queued: everything pushed so far has been
 * taken into its buffer (and published to its followers).
 */
class ChunkSource {
  private controller!: ReadableStreamDefaultController<string>;
  private waiting = false;
  private waiters: (() => void)[] = [];
  readonly stream = new ReadableStream<string>(
    {
      start: (controller) => {
        this.controller = controller;
      },
      pull: () => {
        this.waiting = true;
        for (const resolve of this.waiters.splice(0)) resolve();
      },
    },
    { highWaterMark: 0 },
  );

  push(chunk: string): void {
    this.waiting = false;
    this.controller.enqueue(chunk);
  }

  drained(): Promise<void> {
    if (this.waiting) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

class ResumableStreamBackend implements SseBackend {
  private readonly context = createResumableStreamContext({ waitUntil: null, keyPrefix: "bench" });
  private readonly sources = new Map<string, ChunkSource>();

  async create(stream: string): Promise<void> {
    const source = new ChunkSource();
    const own = await this.context.createNewResumableStream(stream, () => source.stream);
    if (!own) throw new Error(`resumable-stream: ${stream} exists and is done`);
    await own.cancel();
    this.sources.set(stream, source);
  }

  append(stream: string, chunk: string): void {
    this.sources.get(stream)!.push(chunk);
  }

  settled(stream: string): Promise<void> {
    return this.sources.get(stream)!.drained();
  }

  async serve(stream: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const skip = Number(url.searchParams.get("skip") ?? 0);
    const followed = await this.context.resumeExistingStream(stream, skip);
    if (!followed) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    res.write(": connected\n\n");
    const reader = followed.getReader();
    req.on("close", () => void reader.cancel().catch(() => {}));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  }
}

const mode = process.env.PEER_MODE;
if (mode !== "plain" && mode !== "resumable-stream") throw new Error(`PEER_MODE must be plain or resumable-stream`);
const backend: SseBackend = mode === "plain" ? new PlainBackend() : new ResumableStreamBackend();

const server = createServer({ noDelay: true }, (req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const stream = /^\/stream\/([A-Za-z0-9_-]{1,128})$/.exec(url.pathname)?.[1];
  if (!stream || req.method !== "GET") {
    res.writeHead(404).end();
    return;
  }
  backend.serve(stream, url, req, res).catch((error: unknown) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.keepAliveTimeout = 0;
server.listen(0, "127.0.0.1", () => {
  toBench({ type: "ready", port: (server.address() as AddressInfo).port });
});

fromBench(async (message) => {
  if (message.type === "fill") {
    const stream = message.stream as string;
    await backend.create(stream);
    for (let n = 0; n < (message.count as number); n++) backend.append(stream, sseEvent(n, resumeEventJson(n)));
    await backend.settled(stream);
    toBench({ type: "filled" });
  } else if (message.type === "create") {
    await mapLimit(message.streams as string[], CREATE_CONCURRENCY, (stream) => backend.create(stream));
    toBench({ type: "created" });
  } else if (message.type === "start") {
    const streams = message.streams as string[];
    const generated = streams.map(() => 0);
    const schedule = await runSteadySchedule(
      {
        sessions: streams.length,
        ratePerSession: message.ratePerSession as number,
        durationMs: message.durationMs as number,
      },
      (i, n) => {
        backend.append(streams[i]!, sseEvent(n, liveEventJson(n, wallClockMs())));
        generated[i]!++;
      },
    );
    toBench({ type: "done", generated, schedule });
  }
});
