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
 * stream was recreated), when events after `requested.seq` may already have
 * been removed by retention, or when the position lies beyond the stream's
 * last seq: a position the gateway handed out is never in the future of the
 * stream, so the stream has lost events it had stored (e.g. a cluster that
 * came back without its newest writes), or the position was never issued.
 * Either way the client's state cannot be continued. Callers that may read a
 * stream state lagging behind a new leader wait a little before deciding
 * (PROTOCOL.md §8.1). Never allows a silent partial replay.
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
      ErrorCode.INSUFFICIENT_STATE,
      `seq ${requested.seq} is after the stream's last seq ${stream.lastSeq}: the stream no longer has events it delivered; reload the session from the start`,
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

/**
 * For a position naming an event (`id`): throws `INSUFFICIENT_STATE` unless
 * the stream still stores that event at `seq`. `stored` is the id of the
 * session's event stored at `seq`, `undefined` when the stream holds no event
 * of this session there (another session's event, or none). Positions
 * without an id, and positions whose event expired by retention (`expired`),
 * are not checked.
 */
export function checkPositionEvent(requested: Position, stored: string | undefined, expired = false): void {
  if (requested.id === undefined || expired || stored === requested.id) return;
  throw new ThreadlineError(
    ErrorCode.INSUFFICIENT_STATE,
    stored === undefined
      ? `the stream no longer holds event ${requested.id} at seq ${requested.seq}: its history was rewritten; reload the session from the start`
      : `the stream holds event ${stored} at seq ${requested.seq}, not ${requested.id}: its history was rewritten; reload the session from the start`,
  );
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
