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

/** The keys matching `filter` (e.g. `user.*`) that currently hold a value. */
export async function listKeys(kv: KV, filter: string, what: string): Promise<string[]> {
  try {
    const keys: string[] = [];
    for await (const key of await kv.keys(filter)) keys.push(key);
    return keys;
  } catch (error) {
    throw natsError(`listing ${what} keys ${filter}`, error);
  }
}
