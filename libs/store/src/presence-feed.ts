import type { KV, KvEntry } from "@nats-io/kv";
import {
  type LeaveReason,
  type PresenceEntry,
  type PresenceKey,
  parsePresenceKey,
  presenceEntryProblem,
} from "@threadline/protocol";
import { currentEntries } from "./kv-json.ts";

/** One change of the presence bucket, decoded and validated. */
export interface PresenceChange {
  key: PresenceKey;
  /** The live entry, or undefined when the connection is gone (tombstone or KV delete). */
  entry: PresenceEntry | undefined;
  /** Why the connection is gone (tombstone `gone`, or `left` for a KV delete/purge); only when `entry` is undefined. */
  reason: LeaveReason | undefined;
  /** The tombstone's value, when the connection went away through one. */
  tombstone: PresenceEntry | undefined;
  /** KV revision (bucket stream sequence) of the change. */
  revision: number;
  /** Server time of the write. */
  created: Date;
  /** True for entries read from the snapshot taken at start, false for changes seen afterwards. */
  initial: boolean;
}

export interface PresenceFeedHandler {
  onChange(change: PresenceChange): void;
  /** An entry that is not a valid presence key/value (ignored). */
  onInvalid?(key: string, problem: string): void;
  /** The watch ended without `stop()` (e.g. the bucket was deleted); no further changes will come. */
  onEnd?(error: unknown): void;
}

export interface PresenceFeed {
  /** Resolves when the snapshot was delivered (every `initial` change came before). */
  readonly ready: Promise<void>;
  stop(): void;
}

/**
 * Delivers the presence bucket's current entries under `filter` (a KV key
 * filter such as `>` or `<session>.>`) as `initial` changes, then every later
 * change in bucket order. The snapshot is read key by key after noting the
 * bucket's last revision L; the watch then starts at L+1, and a snapshot
 * entry already newer than L suppresses the watch's older copies of that key,
 * so each key's changes are seen in revision order without a gap.
 */
export function followPresence(kv: KV, filter: string, handler: PresenceFeedHandler): PresenceFeed {
  let stopped = false;
  let stopWatch: (() => void) | undefined;
  const ready = (async () => {
    const status = await kv.status();
    const last = status.streamInfo.state.last_seq;
    const newerThanLast = new Map<string, number>();
    // Delete or purge markers are left out: nobody to report in a snapshot (the watch reports later leaves).
    for (const entry of await currentEntries(kv, filter, "presence")) {
      if (stopped) return;
      if (entry.revision > last) newerThanLast.set(entry.key, entry.revision);
      deliver(entry, true);
    }
    if (stopped) return;
    const watch = await kv.watch({ key: filter, resumeFromRevision: last + 1 });
    stopWatch = () => watch.stop();
    if (stopped) watch.stop();
    void (async () => {
      let error: unknown;
      try {
        for await (const entry of watch) {
          const seen = newerThanLast.get(entry.key);
          if (seen !== undefined) {
            if (entry.revision <= seen) continue;
            newerThanLast.delete(entry.key);
          }
          deliver(entry, false);
        }
      } catch (e) {
        error = e;
      }
      if (!stopped) handler.onEnd?.(error ?? new Error("the presence watch ended"));
    })();
  })();

  function deliver(entry: KvEntry, initial: boolean): void {
    const key = parsePresenceKey(entry.key);
    if (!key) {
      handler.onInvalid?.(entry.key, "key is not <session>.<kind>.<participant>.<connection>");
      return;
    }
    const base = { key, revision: entry.revision, created: entry.created, initial };
    if (entry.operation !== "PUT") {
      handler.onChange({ ...base, entry: undefined, reason: "left", tombstone: undefined });
      return;
    }
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      handler.onInvalid?.(entry.key, "value is not JSON");
      return;
    }
    const problem = presenceEntryProblem(value, key);
    if (problem) {
      handler.onInvalid?.(entry.key, problem);
      return;
    }
    const value_ = value as PresenceEntry;
    if (value_.gone !== undefined) {
      handler.onChange({ ...base, entry: undefined, reason: value_.gone, tombstone: value_ });
      return;
    }
    handler.onChange({ ...base, entry: value_, reason: undefined, tombstone: undefined });
  }

  return {
    ready,
    stop() {
      stopped = true;
      stopWatch?.();
    },
  };
}
