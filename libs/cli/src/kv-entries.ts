import type { KV } from "@nats-io/kv";
import { currentEntries } from "@threadline/store";

/** One KV entry as read from a bucket: its key, JSON value (undefined when not JSON) and when it was written (ms). */
export interface KvRecord {
  key: string;
  value: unknown;
  written: number;
}

/**
 * The current entries of a bucket whose keys match `filter` (e.g. `<session>.>`;
 * default all). Deleted / purged keys are left out. Lists the keys first (the
 * store's `currentEntries`), so it ends even while the bucket keeps changing.
 */
export async function readEntries(kv: KV, filter?: string): Promise<KvRecord[]> {
  return (await currentEntries(kv, filter ?? ">", "bucket")).map((entry) => {
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      value = undefined;
    }
    return { key: entry.key, value, written: entry.created.getTime() };
  });
}
