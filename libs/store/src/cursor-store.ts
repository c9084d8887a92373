import type { KV } from "@nats-io/kv";
import { isPosition, type Position } from "@threadline/protocol";

/**
 * Durable per-device cursors: the last position a device acknowledged in a
 * session, kept in a KV bucket under `<session>.<user>.<device>` as JSON
 * `{"epoch","seq","ts"}`. It is the device's "durable consumer offset": a
 * device that comes back without local state resumes from it.
 *
 * Writes are coalesced: at most one KV put per key per `flushMs`, and always
 * on `flush()` (detach, socket close, shutdown). Cursors only move forward.
 */
export interface CursorStore {
  get(session: string, user: string, device: string): Promise<Position | undefined>;
  /** Records an acknowledged position; persisted within `flushMs`. */
  set(session: string, user: string, device: string, position: Position): void;
  /** Persists pending cursors for `keys` (all when omitted). */
  flush(keys?: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export function cursorKey(session: string, user: string, device: string): string {
  return `${session}.${user}.${device}`;
}

/** Where a failed cursor write is reported (it is retried on the next flush). */
export type CursorWriteFailed = (error: unknown, key: string) => void;

export function createCursorStore(kv: KV, flushMs: number, onWriteFailed: CursorWriteFailed): CursorStore {
  // Bounded by the number of live (socket, session) attachments: entries are removed when written.
  const dirty = new Map<string, Position>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const write = async (keys: readonly string[]): Promise<void> => {
    await Promise.all(
      keys.map(async (key) => {
        const position = dirty.get(key);
        if (!position) return;
        dirty.delete(key);
        try {
          await kv.put(key, JSON.stringify({ epoch: position.epoch, seq: position.seq, ts: Date.now() }));
        } catch (error) {
          onWriteFailed(error, key);
          const newer = dirty.get(key);
          if (!newer || newer.seq < position.seq) dirty.set(key, position);
          schedule();
        }
      }),
    );
  };
  const schedule = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void write([...dirty.keys()]);
    }, flushMs);
    timer.unref?.();
  };

  return {
    async get(session, user, device) {
      const entry = await kv.get(cursorKey(session, user, device));
      if (entry?.operation !== "PUT") return undefined;
      try {
        const value = entry.json<unknown>();
        return isPosition(value) ? { epoch: value.epoch, seq: value.seq } : undefined;
      } catch {
        return undefined;
      }
    },
    set(session, user, device, position) {
      const key = cursorKey(session, user, device);
      const current = dirty.get(key);
      if (current && current.epoch === position.epoch && current.seq >= position.seq) return;
      dirty.set(key, position);
      schedule();
    },
    async flush(keys) {
      await write(keys ?? [...dirty.keys()]);
    },
    async close() {
      clearTimeout(timer);
      timer = undefined;
      await write([...dirty.keys()]);
    },
  };
}
