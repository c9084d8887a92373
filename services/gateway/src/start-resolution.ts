import {
  type AttachFrame,
  checkPositionEvent,
  checkResume,
  isPosition,
  type Position,
  type StreamState,
  ThreadlineError,
} from "@threadline/protocol";

/**
 * How long the stream may report a last seq below a position's seq (an
 * attach) or below the last event this gateway delivered (the live feed)
 * before that counts as lost history, ms. A new stream leader may briefly
 * report less than it will hold once it has applied its log; a stream that
 * stays behind (or stores other events at the seqs) has lost them (PROTOCOL.md §8.1).
 */
export const HISTORY_LOSS_GRACE_MS = 5_000;
/** How often the stream's state is re-read during that grace. */
export const STREAM_STATE_RETRY_MS = 250;

/**
 * What an attach knows when it decides where to start. Facts are gathered by
 * the caller (I/O); `undefined` means "not read yet".
 */
export interface StartFacts {
  /** The frame's `from` (default `"cursor"`). */
  from: NonNullable<AttachFrame["from"]>;
  /** The session's live feed, as it is now. */
  feed: {
    lastSeq: number;
    epoch: string;
    /** Whether the feed's ring holds every event of the session after `seq`. */
    covers(seq: number): boolean;
    /** The id of the ring's event at `seq` (only meaningful when `covers(seq - 1)`). */
    idAt(seq: number): string | undefined;
  };
  /** The server-held cursor of this (session, user, device): a value, `null` when there is none. */
  cursor?: Position | null;
  /** The stream's state. */
  state?: StreamState;
  /** Whether the grace for a stream behind the position has run out (or the socket closed). */
  graceOver?: boolean;
  /** The id of the session's event stored at the position's seq; `null` when none of the session is there. */
  stored?: string | null;
}

/** The next step of resolving an attach's start. */
export type StartStep =
  /** Start after `after`; `source` says where the catch-up comes from (for logs and tests). */
  | { type: "start"; after: number; source: "now" | "start" | "ring" | "stream" | "cursor-fallback" }
  /** Read this fact and decide again. `delayMs`: wait that long first (the grace re-read). */
  | { type: "read"; fact: "cursor" | "state" | "stored"; delayMs?: number }
  /** Refuse the attach with this error (`INSUFFICIENT_STATE`). */
  | { type: "refuse"; error: ThreadlineError };

/**
 * The gateway's start resolution (PROTOCOL.md §8.1), as a pure function of
 * what is known so far. A position is continued from the feed's ring when
 * the ring covers it, else from the stream after checking it against the
 * stream's epoch, retention and end (waiting up to `HISTORY_LOSS_GRACE_MS`
 * for a stream behind it) and, when it names its event, that the event is
 * still stored at its seq. A position that cannot be continued is refused
 * with `INSUFFICIENT_STATE` — except a server-held cursor, which falls back
 * to the whole history (the device has no local state to keep consistent).
 */
export function resolveStartStep(facts: StartFacts): StartStep {
  const { from, feed } = facts;
  if (from === "now") return { type: "start", after: feed.lastSeq, source: "now" };
  if (from === "start") return { type: "start", after: 0, source: "start" };
  const isCursor = from === "cursor";
  if (isCursor && facts.cursor === undefined) return { type: "read", fact: "cursor" };
  const position = isCursor ? facts.cursor : from;
  if (!position || !isPosition(position))
    return { type: "start", after: 0, source: isCursor ? "cursor-fallback" : "start" };
  try {
    return positionStep(position, facts);
  } catch (error) {
    if (!(error instanceof ThreadlineError)) throw error;
    return isCursor ? { type: "start", after: 0, source: "cursor-fallback" } : { type: "refuse", error };
  }
}

/** Throws the protocol's `INSUFFICIENT_STATE` errors (caught by the caller). */
function positionStep(position: Position, facts: StartFacts): StartStep {
  const { feed } = facts;
  const inRing = position.seq <= feed.lastSeq && position.epoch === feed.epoch && feed.covers(position.seq);
  if (inRing) {
    // The ring holds every event of the session after its base, so an event the position names is
    // either there at its seq, or the stream no longer has it there.
    if (position.id === undefined) return { type: "start", after: position.seq, source: "ring" };
    if (feed.covers(position.seq - 1)) {
      checkPositionEvent(position, feed.idAt(position.seq));
      return { type: "start", after: position.seq, source: "ring" };
    }
    // The ring starts right at the position: ask the stream about the named event.
    if (facts.state === undefined) return { type: "read", fact: "state" };
    return storedEventStep(position, facts, "ring");
  }
  if (facts.state === undefined) return { type: "read", fact: "state" };
  if (facts.state.lastSeq < position.seq && !facts.graceOver) {
    return { type: "read", fact: "state", delayMs: STREAM_STATE_RETRY_MS };
  }
  checkResume(position, facts.state);
  return storedEventStep(position, facts, "stream");
}

function storedEventStep(position: Position, facts: StartFacts, source: "ring" | "stream"): StartStep {
  const state = facts.state as StreamState;
  if (position.id !== undefined) {
    if (position.seq > 0 && position.seq < state.firstSeq) {
      checkPositionEvent(position, undefined, true); // expired by retention: nothing to compare
    } else if (position.seq > 0) {
      if (facts.stored === undefined) return { type: "read", fact: "stored" };
      checkPositionEvent(position, facts.stored ?? undefined);
    } else {
      checkPositionEvent(position, undefined);
    }
  }
  return { type: "start", after: position.seq, source };
}
