import { ErrorCode, ThreadlineError } from "./errors.ts";
import type { Position } from "./position.ts";

/**
 * Pure recovery rules shared by the gateway (server side) and clients.
 * Nothing here performs I/O; every function is table-tested.
 */

/** What the server knows about the stream when a resume is requested. */
export interface StreamState {
  epoch: string;
  /** First sequence still stored in the stream (1 for a new stream). */
  firstSeq: number;
  /** Last sequence stored in the stream (0 for an empty stream). */
  lastSeq: number;
}

/**
 * Decides whether "every event of the session after `requested`" can be
 * replayed exactly. Throws `INSUFFICIENT_STATE` when the epoch differs (the
 * stream was recreated) or when events after `requested.seq` may already have
 * been removed by retention; `INVALID_POSITION` when the position lies in the
 * future of the stream. Never allows a silent partial replay.
 */
export function checkResume(requested: Position, stream: StreamState): void {
  if (requested.epoch !== stream.epoch) {
    throw new ThreadlineError(
      ErrorCode.INSUFFICIENT_STATE,
      `epoch ${requested.epoch} is not the stream's current epoch ${stream.epoch}; reload the session from the start`,
    );
  }
  if (requested.seq > stream.lastSeq) {
    throw new ThreadlineError(
      ErrorCode.INVALID_POSITION,
      `seq ${requested.seq} is after the stream's last seq ${stream.lastSeq}`,
    );
  }
  // Events with seq in (requested.seq, firstSeq) were removed: the replay would have a hole.
  if (requested.seq + 1 < stream.firstSeq) {
    throw new ThreadlineError(
      ErrorCode.INSUFFICIENT_STATE,
      `events after seq ${requested.seq} have expired (stream starts at ${stream.firstSeq}); reload the session from the start`,
    );
  }
}

export interface Sequenced {
  seq: number;
}

/**
 * Merges a history read with live events buffered while it ran, dropping
 * everything at or below `after` and every duplicate seq. Both inputs must be
 * ascending. The caller guarantees coverage: the live subscription existed
 * before the history read began, so `history ∪ live` holds every event after
 * `after` (Centrifugo's MergePublications).
 * Throws INTERNAL when an input is out of order, because merging it would reorder events.
 */
export function mergeHistoryAndLive<T extends Sequenced>(
  after: number,
  history: readonly T[],
  live: readonly T[],
): T[] {
  const out: T[] = [];
  let last = after;
  for (const input of [history, live]) {
    let prev = -1;
    for (const record of input) {
      if (record.seq <= prev) {
        throw new ThreadlineError(ErrorCode.INTERNAL, `input out of order: seq ${record.seq} after ${prev}`);
      }
      prev = record.seq;
      if (record.seq > last) {
        out.push(record);
        last = record.seq;
      }
    }
  }
  return out;
}

/**
 * Client-side dedupe: whether an incoming event with `seq` should be applied
 * given the last applied seq. Events at or below the last seq are replays of
 * something already seen and are dropped.
 */
export function isNewSeq(lastSeq: number, seq: number): boolean {
  return seq > lastSeq;
}
