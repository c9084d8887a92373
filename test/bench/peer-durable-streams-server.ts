import { DurableStreamTestServer } from "@durable-streams/server";
import { resumeEventJson } from "./peer-events.ts";
import { fromBench, toBench } from "./worker-process.ts";

/**
 * Worker process of the `peers` scenario: the Durable Streams reference
 * server (`@durable-streams/server`), with its file store when
 * `DS_DATA_DIR` is set (segment files + LMDB metadata; every append waits
 * for the segment's fdatasync and the LMDB commit) or its memory store
 * otherwise, on 127.0.0.1 and a free port. Readers and writers use its HTTP
 * protocol; only the resume fill goes through the store directly (below).
 *
 * Protocol with the bench (IPC):
 *   → ready {url}
 *   ← fill {path, count}  → filled {offsets: string[]}
 *     Appends `count` resume events, one message each, to the existing JSON
 *     stream `path` through the store's own `append` (the code a POST runs),
 *     in order; `offsets[i]` is the offset after event i (a reader resumes
 *     after event i with `?offset=<offsets[i]>`). For the file store the fill
 *     does not wait for each append's fdatasync and LMDB commit (LMDB's cache
 *     makes a put visible at once; the commits are awaited and the segment is
 *     synced once at the end): waiting takes ~8 ms per append on this disk,
 *     80 s for 10,000 events, more than a quick run has. What is stored and
 *     read is the same.
 */
interface FileStoreInternals {
  fileHandlePool: { fsyncFile(path: string): Promise<void> };
  db: { put(key: unknown, value: unknown): Promise<unknown> };
}

const dataDir = process.env.DS_DATA_DIR || undefined;
const server = new DurableStreamTestServer({ port: 0, host: "127.0.0.1", dataDir });
const url = await server.start();
toBench({ type: "ready", url });

/**
 * Runs `fill` with the file store's per-append fdatasync and LMDB commit
 * not awaited (see above), then awaits the commits and syncs the segments
 * it wrote. The memory store has neither: `fill` runs as it is.
 */
async function withoutPerAppendSync<T>(fill: () => Promise<T>): Promise<T> {
  if (!dataDir) return fill();
  const store = server.store as unknown as Partial<FileStoreInternals>;
  const { fileHandlePool: pool, db } = store;
  if (typeof pool?.fsyncFile !== "function" || typeof db?.put !== "function")
    throw new Error("@durable-streams/server changed: FileBackedStreamStore has no fileHandlePool.fsyncFile / db.put");
  const segments = new Set<string>();
  const commits: Promise<unknown>[] = [];
  const { fsyncFile } = pool;
  const { put } = db;
  pool.fsyncFile = async (file) => {
    segments.add(file);
  };
  db.put = (key, value) => {
    commits.push(put.call(db, key, value));
    return Promise.resolve(true);
  };
  try {
    return await fill();
  } finally {
    pool.fsyncFile = fsyncFile;
    db.put = put;
    await Promise.all(commits);
    for (const segment of segments) await pool.fsyncFile(segment);
  }
}

async function fill(path: string, count: number): Promise<string[]> {
  const encoder = new TextEncoder();
  const offsets: string[] = [];
  for (let n = 0; n < count; n++) {
    const result = await server.store.append(path, encoder.encode(resumeEventJson(n)));
    const message = result && "offset" in result ? result : result?.message;
    if (!message) throw new Error(`append ${n} to ${path} stored nothing: ${JSON.stringify(result)}`);
    offsets.push(message.offset);
  }
  return offsets;
}

fromBench(async (message) => {
  if (message.type === "fill") {
    const offsets = await withoutPerAppendSync(() => fill(message.path as string, message.count as number));
    toBench({ type: "filled", offsets });
  }
});
