import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cleanup } from "./cleanup.ts";
import { toPeerEvent } from "./peer-events.ts";
import { openSseReader, readJsonCatchUp } from "./peer-http-reads.ts";
import type { PeerSystem, RunningPeer } from "./peer-system.ts";
import { mapLimit } from "./pool.ts";
import { startWorker } from "./worker-process.ts";

/** Longest a fill or a write phase may take beyond its own duration. */
const GRACE_MS = 180_000;
/** Streams created concurrently (one PUT each). */
const CREATE_CONCURRENCY = 32;

/**
 * The Durable Streams reference server, `@durable-streams/server` 0.3.7, with
 * its file store (segment files + LMDB metadata, fdatasync on every append;
 * the data dir under the OS temp dir, on the same disk as nats-server's
 * store) or its memory store. Its own protocol over HTTP: `PUT` creates a
 * JSON stream, `POST` appends (from a separate writer process,
 * peer-http-writer.ts), a resume is the catch-up `GET ?offset=<offset>`, a
 * live reader is `GET ?offset=now&live=sse`.
 */
export function durableStreamsSystem(store: "file" | "memory"): PeerSystem {
  return {
    name: `durable-streams (${store})`,
    role: "durable-peer",
    durability:
      store === "file"
        ? {
            storage: "file",
            fsync: "per append (fdatasync of the segment, then an LMDB commit) before the POST is answered",
            survivesProcessCrash: true,
            resumable: true,
          }
        : {
            storage: "memory",
            fsync: "none: the server process's memory",
            survivesProcessCrash: false,
            resumable: true,
          },
    start: () => startDurableStreams(store),
  };
}

async function startDurableStreams(store: "file" | "memory"): Promise<RunningPeer> {
  const cleanup = new Cleanup();
  try {
    const env: Record<string, string> = {};
    if (store === "file") {
      const dir = mkdtempSync(join(tmpdir(), "tl-bench-ds-"));
      cleanup.defer("data dir", () => rmSync(dir, { recursive: true, force: true }));
      env.DS_DATA_DIR = dir;
    }
    const server = await startWorker(fileURLToPath(new URL("./peer-durable-streams-server.ts", import.meta.url)), env);
    cleanup.defer("durable streams server", () => server.stop());
    const base = server.ready.url as string;
    const writer = await startWorker(fileURLToPath(new URL("./peer-http-writer.ts", import.meta.url)), {
      DS_URL: base,
    });
    cleanup.defer("http writer", () => writer.stop());
    const create = async (path: string) => {
      const response = await fetch(`${base}${path}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
      });
      await response.arrayBuffer();
      if (response.status !== 201 && response.status !== 200) throw new Error(`PUT ${path}: HTTP ${response.status}`);
    };
    return {
      processes: [{ name: "durable streams server", pid: server.pid }],
      writerPid: writer.pid,
      description: `@durable-streams/server 0.3.7, ${store} store${store === "file" ? ` in ${env.DS_DATA_DIR}` : ""}`,
      async fill(count) {
        await create("/bench/resume");
        server.send({ type: "fill", path: "/bench/resume", count });
        const offsets = (await server.next("filled", GRACE_MS)).offsets as string[];
        return {
          positions: Array.from({ length: count }, (_, i) => i + 1),
          read: (position) =>
            readJsonCatchUp(`${base}/bench/resume?offset=${position === 0 ? "-1" : offsets[position - 1]}`),
        };
      },
      async createStreams(names) {
        await mapLimit(names, CREATE_CONCURRENCY, (name) => create(`/bench/${name}`));
      },
      openReader: (stream, onEvent) =>
        openSseReader(`${base}/bench/${stream}?offset=now&live=sse`, parseSseData, onEvent),
      async write(streams, ratePerStream, durationMs) {
        writer.send({
          type: "start",
          paths: streams.map((s) => `/bench/${s}`),
          ratePerSession: ratePerStream,
          durationMs,
        });
        const done = await writer.next("done", durationMs + GRACE_MS);
        const schedule = done.schedule as { maxLagMs: number };
        const errors = done.errors as Record<string, number>;
        return {
          stored: (done.stored as number[][]).map((ns) => ns.map((n) => n + 1)),
          unstored: (done.failed as number) + (done.skipped as number) + (done.unsettled as number),
          notes: [
            `writer: ${done.posts} POSTs, ${done.failed} events failed, ${done.skipped} skipped, ` +
              `${done.unsettled} unsettled; POST p50 ${done.postP50Ms} / p99 ${done.postP99Ms} ms; ` +
              `generator lag max ${Math.round(schedule.maxLagMs)} ms`,
            ...(Object.keys(errors).length > 0 ? [`writer errors: ${JSON.stringify(errors)}`] : []),
          ],
        };
      },
      stop: () => cleanup.run(),
    };
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}

/**
 * One SSE `data` field of a JSON stream: `event: data` carries a JSON array
 * of the appended values; `event: control` an object (offset, cursor,
 * up-to-date), which carries no event.
 */
function parseSseData(data: string): { n: number; t?: number }[] {
  if (!data.startsWith("[")) return [];
  return (JSON.parse(data) as unknown[]).map(toPeerEvent);
}
