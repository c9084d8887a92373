import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { JsErrCode, jsApiErrorCode, natsError } from "./nats-errors.ts";

/**
 * JSON values in a history-1 KV bucket, the way every typed bucket of this
 * package reads and writes them (see `ControlState`): a value that does not
 * parse or validate reads as missing; writes are a create (revision 0) or a
 * compare-and-set and resolve to `undefined` when another writer won.
 */

/** A key's current raw entry, or undefined when it holds no value (absent, deleted, purged). */
export async function readEntry(kv: KV, key: string, what: string): Promise<KvEntry | undefined> {
  let entry: KvEntry | null;
  try {
    entry = await kv.get(key);
  } catch (error) {
    throw natsError(`reading ${what} key ${key}`, error);
  }
  return entry && entry.operation === "PUT" && entry.length > 0 ? entry : undefined;
}

/** The entry's JSON when it validates (`problem` returns undefined), else undefined. */
export function validJson<T>(entry: KvEntry, problem: (value: unknown) => string | undefined): T | undefined {
  let value: unknown;
  try {
    value = entry.json<unknown>();
  } catch {
    return undefined;
  }
  return problem(value) === undefined ? (value as T) : undefined;
}

/**
 * revision 0: create (the key must be absent or deleted); otherwise
 * compare-and-set. Resolves to the new revision, or undefined when the key
 * was not at `revision` (JetStream "wrong last sequence").
 */
export async function writeJson(
  kv: KV,
  key: string,
  value: unknown,
  revision: number,
  what: string,
): Promise<number | undefined> {
  try {
    const data = JSON.stringify(value);
    return revision === 0 ? await kv.create(key, data) : await kv.update(key, data, revision);
  } catch (error) {
    if (jsApiErrorCode(error) === JsErrCode.WRONG_LAST_SEQUENCE) return undefined;
    throw natsError(`writing ${what} key ${key}`, error);
  }
}

/** Deletes the key if it is still at `revision`; false when it moved on (or was already gone). */
export async function deleteAt(kv: KV, key: string, revision: number, what: string): Promise<boolean> {
  try {
    await kv.delete(key, { previousSeq: revision });
    return true;
  } catch (error) {
    if (jsApiErrorCode(error) === JsErrCode.WRONG_LAST_SEQUENCE) return false;
    throw natsError(`deleting ${what} key ${key}`, error);
  }
}

/**
 * nats.js's KV bucket as it keeps its JetStream manager, stream name and
 * subject prefix (`$KV.<bucket>`) internally — pinned nats.js 3.x, re-check
 * on an upgrade (kv-json.test.ts reads a real bucket through them).
 */
interface BucketInternals {
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
}

/**
 * The keys matching `filter` (`>`, `<session>.>`, `user.*`) that have a
 * message in the bucket: a value, or the marker a delete or purge leaves —
 * callers read the entries and keep the values. From the stream's subject
 * index (`STREAM.INFO` with `subjects_filter`; nats.js pages long lists):
 * no consumer, one request.
 *
 * Not nats.js's `kv.keys()`: its consumer ends when a delivery's pending
 * count reaches 0, else at an idle heartbeat (30 s once the ordered consumer
 * was reset) — and on a bucket written every 2 s (presence heartbeats) no
 * idle heartbeat comes, so a pending count the server got wrong (nats-server
 * 2.9 miscounts filtered consumers) kept it running for as long as the
 * writes went on: `threadline inspect` and `threadline sessions` hung in CI.
 */
export async function storedKeys(kv: KV, filter: string, what: string): Promise<string[]> {
  const { jsm, stream, prefix } = kv as unknown as BucketInternals;
  try {
    const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}.${filter}` });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length + 1));
  } catch (error) {
    throw natsError(`listing ${what} keys ${filter}`, error);
  }
}

/** Entries read at once by `currentEntries` (direct gets, answered by any replica). */
const ENTRY_READS = 128;

/**
 * The current entries of the keys matching `filter` (see `storedKeys`): the
 * values, not the delete or purge markers, in batches of direct gets.
 */
export async function currentEntries(kv: KV, filter: string, what: string): Promise<KvEntry[]> {
  const keys = await storedKeys(kv, filter, what);
  const entries: KvEntry[] = [];
  for (let i = 0; i < keys.length; i += ENTRY_READS) {
    const batch = await Promise.all(
      keys.slice(i, i + ENTRY_READS).map((key) =>
        kv.get(key).catch((error: unknown) => {
          throw natsError(`reading ${what} key ${key}`, error);
        }),
      ),
    );
    for (const entry of batch) if (entry?.operation === "PUT") entries.push(entry);
  }
  return entries;
}

/** The keys matching `filter` (e.g. `user.*`) that currently hold a value. */
export async function listKeys(kv: KV, filter: string, what: string): Promise<string[]> {
  return (await currentEntries(kv, filter, what)).map((entry) => entry.key);
}
