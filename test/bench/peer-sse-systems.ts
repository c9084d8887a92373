import { fileURLToPath } from "node:url";
import { Cleanup } from "./cleanup.ts";
import { parsePeerEvent, sseResumeOffsets } from "./peer-events.ts";
import { openSseReader, readSseResume } from "./peer-http-reads.ts";
import type { PeerSystem, RunningPeer } from "./peer-system.ts";
import { startRedisServer } from "./redis-server.ts";
import { startWorker } from "./worker-process.ts";

/** The stream the resume workload fills. */
const RESUME_STREAM = "resume";
/** Longest a fill, a create or a write phase may take beyond its own duration. */
const GRACE_MS = 120_000;

/**
 * `resumable-stream` 2.2.13 on a real Redis (Debian's redis-server, started
 * by the bench on a free port with persistence off). The library keeps a
 * stream's chunks in the memory of the process that produces it; Redis
 * carries only pub/sub and a sentinel key per stream. Every reader follows
 * through Redis (`resumeExistingStream`), resuming by a character count.
 */
export function resumableStreamSystem(): PeerSystem {
  return {
    name: "resumable-stream (redis)",
    role: "durable-peer",
    durability: {
      storage: "memory",
      fsync: "none: chunks in the producing process's memory; Redis holds pub/sub and a sentinel only",
      survivesProcessCrash: false,
      resumable: true,
    },
    start: () => startSseSystem("resumable-stream"),
  };
}

/** Plain SSE from the agent's own HTTP server: no storage, an in-process array for Last-Event-ID resumes. */
export function plainSseSystem(): PeerSystem {
  return {
    name: "plain sse (no storage)",
    role: "floor",
    durability: {
      storage: "none",
      fsync: "none: events only in the server process's memory",
      survivesProcessCrash: false,
      resumable: true,
    },
    start: () => startSseSystem("plain"),
  };
}

async function startSseSystem(mode: "plain" | "resumable-stream"): Promise<RunningPeer> {
  const cleanup = new Cleanup();
  try {
    const processes: { name: string; pid: number }[] = [];
    const env: Record<string, string> = { PEER_MODE: mode };
    let description = "node:http SSE server, events in an array per stream";
    if (mode === "resumable-stream") {
      const redis = await startRedisServer();
      cleanup.deferProcess("redis-server", redis.pid, () => redis.stop());
      env.REDIS_URL = redis.url;
      processes.push({ name: "redis-server", pid: redis.pid });
      description = `resumable-stream 2.2.13 + redis 4.7.1 client, redis-server ${redis.version} (save "", appendonly no)`;
    }
    const server = await startWorker(fileURLToPath(new URL("./peer-sse-server.ts", import.meta.url)), env);
    cleanup.defer("sse server", () => server.stop());
    processes.unshift({ name: "sse server", pid: server.pid });
    const base = `http://127.0.0.1:${server.ready.port}/stream`;
    return {
      processes,
      writerPid: undefined,
      description,
      async fill(count) {
        server.send({ type: "fill", stream: RESUME_STREAM, count });
        await server.next("filled", GRACE_MS);
        const skips = sseResumeOffsets(count);
        return {
          positions: Array.from({ length: count }, (_, i) => i + 1),
          read: (position) =>
            readSseResume(
              mode === "plain"
                ? `${base}/${RESUME_STREAM}?from=${position}`
                : `${base}/${RESUME_STREAM}?skip=${skips[position]}`,
              count - position,
            ),
        };
      },
      async createStreams(names) {
        server.send({ type: "create", streams: names });
        await server.next("created", GRACE_MS);
      },
      openReader: (stream, onEvent) => openSseReader(`${base}/${stream}`, (data) => [parsePeerEvent(data)], onEvent),
      async write(streams, ratePerStream, durationMs) {
        server.send({ type: "start", streams, ratePerSession: ratePerStream, durationMs });
        const done = await server.next("done", durationMs + GRACE_MS);
        const generated = done.generated as number[];
        const schedule = done.schedule as { maxLagMs: number };
        return {
          stored: generated.map((count) => Array.from({ length: count }, (_, n) => n + 1)),
          unstored: 0,
          notes: [`writer (in the server): generator lag max ${Math.round(schedule.maxLagMs)} ms`],
        };
      },
      stop: () => cleanup.run(),
    };
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}
