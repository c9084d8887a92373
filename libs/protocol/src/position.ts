import { isEventId } from "./ids.ts";

/**
 * A position in the session log. `seq` is the JetStream stream sequence of
 * an event (global across sessions, so a session's seqs are increasing but
 * not contiguous); `epoch` identifies the stream instance, and changes when
 * the stream is recreated, invalidating every stored seq.
 */
export interface Position {
  epoch: string;
  seq: number;
  /**
   * Id of the session's event stored at `seq`, when the position is "after
   * this event" (a client that applied it). The gateway checks that the
   * stream still holds that event at `seq`, so a stream that lost events it
   * had delivered (and stored others under the same seqs) is detected instead
   * of resumed silently (PROTOCOL.md §8.1). Absent for positions that name no
   * event (`attached.from` before any event arrived, server-held cursors).
   */
  id?: string;
}

export function isPosition(value: unknown): value is Position {
  if (typeof value !== "object" || value === null) return false;
  const p = value as Record<string, unknown>;
  return (
    typeof p.epoch === "string" &&
    p.epoch.length > 0 &&
    p.epoch.length <= 64 &&
    isSeq(p.seq) &&
    (p.id === undefined || isEventId(p.id))
  );
}

/** A copy of `value` with only the Position fields (drops anything else a storage may have kept). */
export function toPosition(value: Position): Position {
  return value.id === undefined
    ? { epoch: value.epoch, seq: value.seq }
    : { epoch: value.epoch, seq: value.seq, id: value.id };
}

export function isSeq(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Orders two positions of the same epoch. Positions of different epochs are
 * not comparable: this throws, because silently ordering them would hide a
 * recreated stream.
 */
export function comparePositions(a: Position, b: Position): -1 | 0 | 1 {
  if (a.epoch !== b.epoch)
    throw new RangeError(`positions of different epochs (${a.epoch}, ${b.epoch}) are not comparable`);
  return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
}

/** The later of two positions of one epoch. */
export function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}

/**
 * Derives the epoch string from the stream's creation timestamp (stream info
 * `created`, RFC 3339 with nanoseconds). A recreated stream gets a new
 * timestamp and therefore a new epoch. FNV-1a 64-bit → 13 base36 chars.
 */
export function epochFromStreamCreated(created: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (let i = 0; i < created.length; i++) {
    h ^= BigInt(created.charCodeAt(i));
    h = (h * prime) & mask;
  }
  return h.toString(36).padStart(13, "0");
}
