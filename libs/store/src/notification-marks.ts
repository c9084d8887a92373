import type { KV } from "@nats-io/kv";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import type { Versioned } from "./control-state.ts";
import { readEntry, validJson, writeJson } from "./kv-json.ts";
import { burstMarkKey } from "./notify-keys.ts";

/**
 * A user's burst mark in a session (`m.<session>.<user>` in the notify
 * bucket): how far the notifier has settled that user's triggers, and the
 * notifications it reserved but may not have delivered yet.
 */
export interface BurstMark<P = unknown> {
  /** Every trigger of the session up to this stream seq is settled for the user: notified (alone or in a burst), or seen live. 0: none. */
  seq: number;
  /** The stream timestamp of the trigger at `seq`, ms (0: none): where the next burst's stream read may start. */
  ts: number;
  /** Notifications reserved and not yet confirmed delivered on every channel, oldest first (≤ {@link MAX_PENDING_NOTIFICATIONS}). */
  pending: PendingNotification<P>[];
}

/** A reserved notification: the trigger seq that reserved it, when, and what it sends (the same on every retry). */
export interface PendingNotification<P = unknown> {
  seq: number;
  at: number;
  payload: P;
}

/** Reservations kept per (session, user); one more drops the oldest (its delivery, if still unfinished, is not resumed). */
export const MAX_PENDING_NOTIFICATIONS = 16;

/** The mark of a (session, user) that has none. */
export function emptyBurstMark<P>(): BurstMark<P> {
  return { seq: 0, ts: 0, pending: [] };
}

/**
 * The mark after settling everything up to `to` (pure): `seq`/`ts` move
 * forward only; `reserve` adds a pending notification for `to.seq` (replacing
 * one of the same seq); past {@link MAX_PENDING_NOTIFICATIONS} the oldest
 * are dropped and returned.
 */
export function advanceBurstMark<P>(
  mark: BurstMark<P>,
  to: { seq: number; ts: number },
  reserve: { payload: P; at: number } | undefined,
): { mark: BurstMark<P>; dropped: PendingNotification<P>[] } {
  const forward = to.seq > mark.seq;
  let pending = mark.pending;
  if (reserve) pending = [...pending.filter((p) => p.seq !== to.seq), { seq: to.seq, ...reserve }];
  const excess = Math.max(0, pending.length - MAX_PENDING_NOTIFICATIONS);
  return {
    mark: { seq: forward ? to.seq : mark.seq, ts: forward ? to.ts : mark.ts, pending: pending.slice(excess) },
    dropped: pending.slice(0, excess),
  };
}

export function burstMarkProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const v = value as Partial<BurstMark>;
  if (!Number.isSafeInteger(v.seq) || (v.seq ?? -1) < 0) return "bad seq";
  if (!Number.isFinite(v.ts)) return "bad ts";
  if (!Array.isArray(v.pending) || v.pending.length > MAX_PENDING_NOTIFICATIONS) return "bad pending";
  for (const p of v.pending as unknown[]) {
    const e = p as Partial<PendingNotification>;
    if (typeof p !== "object" || p === null || !Number.isSafeInteger(e.seq) || !Number.isFinite(e.at)) {
      return "bad pending entry";
    }
    if (typeof e.payload !== "object" || e.payload === null) return "bad pending payload";
  }
  return undefined;
}

const WRITE_ROUNDS = 8;

/**
 * The notifier's burst marks in the notify bucket (history 1, keys expire
 * with the bucket's TTL). One key per (session, user), written only by
 * compare-and-set, so replicas deciding bursts of the same user and session
 * at the same time serialise on it: the one whose write wins decides, the
 * others re-read and decide again.
 *
 * Contract:
 * - `get` returns the mark and its revision; none stored (or a value that
 *   does not validate) reads as {@link emptyBurstMark} at revision 0 / its
 *   revision, so the next write replaces it;
 * - `advance(session, user, read, to, reserve?)` writes
 *   {@link advanceBurstMark} of the value read, at its revision; undefined
 *   when another writer changed it first;
 * - `settle(session, user, seq)` removes the pending notification of `seq`
 *   (its delivery finished), re-reading on conflicts;
 * - NATS failures throw `ThreadlineError` (`UNAVAILABLE`, `CLOSED`).
 *
 * @example
 *   const read = await marks.get("s1", "u1");
 *   if (await marks.advance("s1", "u1", read, { seq, ts }, { payload, at: Date.now() })) await deliver(payload);
 *   await marks.settle("s1", "u1", seq);
 */
export class NotificationMarks<P = unknown> {
  constructor(private readonly kv: KV) {}

  async get(session: string, user: string): Promise<Versioned<BurstMark<P>>> {
    const entry = await readEntry(this.kv, burstMarkKey(session, user), "burst mark");
    if (!entry) return { value: emptyBurstMark(), revision: 0 };
    return { value: validJson<BurstMark<P>>(entry, burstMarkProblem) ?? emptyBurstMark(), revision: entry.revision };
  }

  /** Resolves to the new revision and the reservations dropped to stay within the limit, or undefined when another writer won. */
  async advance(
    session: string,
    user: string,
    read: Versioned<BurstMark<P>>,
    to: { seq: number; ts: number },
    reserve?: { payload: P; at: number },
  ): Promise<{ revision: number; dropped: PendingNotification<P>[] } | undefined> {
    const { mark, dropped } = advanceBurstMark(read.value, to, reserve);
    const revision = await writeJson(this.kv, burstMarkKey(session, user), mark, read.revision, "burst mark");
    return revision === undefined ? undefined : { revision, dropped };
  }

  async settle(session: string, user: string, seq: number): Promise<void> {
    for (let round = 0; round < WRITE_ROUNDS; round++) {
      const read = await this.get(session, user);
      if (!read.value.pending.some((p) => p.seq === seq)) return;
      const value: BurstMark<P> = { ...read.value, pending: read.value.pending.filter((p) => p.seq !== seq) };
      if ((await writeJson(this.kv, burstMarkKey(session, user), value, read.revision, "burst mark")) !== undefined) {
        return;
      }
    }
    throw new ThreadlineError(ErrorCode.UNAVAILABLE, `burst mark of ${user} in ${session} kept changing`);
  }
}
