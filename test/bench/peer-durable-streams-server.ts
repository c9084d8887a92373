import { DurableStreamTestServer } from "@durable-streams/server";
import { resumeEventJson } from "./peer-events.ts";
import { fromBench, toBench } from "./worker-process.ts";

/**
 * Worker process of the `peers` scenario: the Durable Streams reference
 * server (`@durable-streams/server`), with its file store when
 * `DS_DATA_DIR` is set (segment files + LMDB metadata, fdatasync on every
 * append) or its memory store otherwise, on 127.0.0.1 and a free port.
 * Readers and writers use its HTTP protocol; only the resume fill goes
 * through the store directly (below).
 *
 * Protocol with the bench (IPC):
 *   → ready {url}
 *   ← fill {path, count}  → filled {offsets: string[]}
 *     Appends `count` resume events, one message each, to the existing JSON
 *     stream `path` through the store's own `append` (the code a POST runs),
 *     in order; `offsets[i]` is the offset after event i (a reader resumes
 *     after event i with `?offset=<offsets[i]>`). For the file store the
 *     per-append fdatasync is skipped during the fill only and the segment
 *     is synced once at the end: 10,000 synced appends take ~85 s on this
 *     disk and would not fit a quick run; what is stored and read is the same.
 */
interface FsyncPool {
  fsyncFile(path: string): Promise<void>;
}

const dataDir = process.env.DS_DATA_DIR || undefined;
const server = new DurableStreamTestServer({ port: 0, host: "127.0.0.1", dataDir });
const url = await server.start();
toBench({ type: "ready", url });

/** The file store's handle pool (its fdatasync), or undefined for the memory store. */
function fsyncPool(): FsyncPool | undefined {
  if (!dataDir) return undefined;
  const pool = (server.store as unknown as { fileHandlePool?: FsyncPool }).fileHandlePool;
  if (typeof pool?.fsyncFile !== "function")
    throw new Error("@durable-streams/server changed: FileBackedStreamStore.fileHandlePool.fsyncFile is gone");
  return pool;
}

async function fill(path: string, count: number): Promise<string[]> {
  const encoder = new TextEncoder();
  const offsets: string[] = [];
  const pool = fsyncPool();
  const fsyncFile = pool?.fsyncFile;
  let segment: string | undefined;
  if (pool)
    pool.fsyncFile = async (file) => {
      segment = file;
    };
  try {
    for (let n = 0; n < count; n++) {
      const result = await server.store.append(path, encoder.encode(resumeEventJson(n)));
      const message = result && "offset" in result ? result : result?.message;
      if (!message) throw new Error(`append ${n} to ${path} stored nothing: ${JSON.stringify(result)}`);
      offsets.push(message.offset);
    }
  } finally {
    if (pool && fsyncFile) {
      pool.fsyncFile = fsyncFile;
      if (segment) await pool.fsyncFile(segment);
    }
  }
  return offsets;
}

fromBench(async (message) => {
  if (message.type === "fill") {
    const offsets = await fill(message.path as string, message.count as number);
    toBench({ type: "filled", offsets });
  }
});
