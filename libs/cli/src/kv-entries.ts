import type { KV } from "@nats-io/kv";
import { storedKeys } from "@threadline/store";

/** One KV entry as read from a bucket: its key, JSON value (undefined when not JSON) and when it was written (ms). */
export interface KvRecord {
  key: string;
  value: unknown;
  written: number;
}

/** Entries read concurrently. */
const KV_READ_CONCURRENCY = 32;

/**
 * The current entries of a bucket whose keys match `filter` (e.g. `<session>.>`;
 * default all). Deleted / purged keys are left out. Lists the keys first, then
 * reads them in batches, so it ends even while the bucket keeps changing.
 */
export async function readEntries(kv: KV, filter?: string): Promise<KvRecord[]> {
  // Not kv.keys(): see storedKeys (it could run for as long as the bucket kept being written).
  const keys = await storedKeys(kv, filter ?? ">", "bucket");
  const records: KvRecord[] = [];
  for (let i = 0; i < keys.length; i += KV_READ_CONCURRENCY) {
    const entries = await Promise.all(keys.slice(i, i + KV_READ_CONCURRENCY).map((key) => kv.get(key)));
    for (const entry of entries) {
      if (entry?.operation !== "PUT") continue;
      let value: unknown;
      try {
        value = entry.json();
      } catch {
        value = undefined;
      }
      records.push({ key: entry.key, value, written: entry.created.getTime() });
    }
  }
  return records;
}
