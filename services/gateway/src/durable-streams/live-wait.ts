import type { ThreadlineError } from "@threadline/protocol";
import type { FeedRecord } from "../feed-record.ts";
import type { ReadResult } from "./data-reader.ts";
import type { StreamView } from "./stream-views.ts";

/** What a live reader of `view` keeps from the feed: session logs' records up to `maxBytes`, nothing for data streams. */
export function keepOf(
  view: StreamView,
  maxBytes: number,
): { maxBytes: number; toJson(record: FeedRecord): unknown } | undefined {
  return view.message ? { maxBytes, toJson: view.message } : undefined;
}

import type { FeedRegistry } from "../feed-registry.ts";
import type { FeedSubscriber } from "../session-feed.ts";

/**
 * A live reader's tap on the session's feed (the gateway's one live feed per
 * active session, feed-registry.ts — never a JetStream consumer per
 * request). Open it *before* reading history, so nothing stored between the
 * read and the wait is missed: `next(after, timeoutMs)` resolves true as soon
 * as the feed has dispatched a matching record with seq > `after` (also one
 * that arrived before the call), false on timeout or when `signal` aborts.
 *
 * A tap opened with `keep` (session logs: every record of the session is
 * content) also keeps the records it is given, up to `keep.maxBytes`, so a
 * live reader takes new content from memory (`takeAfter`) instead of reading
 * the stream again for every wake (an ephemeral JetStream consumer per read).
 * The feed hands a subscriber every record in seq order with no gap, and the
 * tap joins it before the reader's first read, so what it kept after a seq the
 * reader has reached is exactly what the stream holds after it. Past the bound
 * the kept records are dropped and the next `takeAfter` says "read the
 * stream" (undefined); keeping starts again from then on.
 */
export class LiveTap implements Disposable {
  private lastSignalled = 0;
  private wake: ((closing?: boolean) => void) | undefined;
  private failure: ThreadlineError | undefined;
  private readonly subscriber: FeedSubscriber;
  private closed = false;
  private kept: FeedRecord[] = [];
  private keptBytes = 0;
  /** Records were dropped at the bound: the next take must read the stream. */
  private overflowed = false;

  private constructor(
    private readonly feeds: FeedRegistry,
    private readonly feed: ReturnType<FeedRegistry["acquire"]>,
    matches: (record: FeedRecord) => boolean,
    private readonly keep: { maxBytes: number; toJson(record: FeedRecord): unknown } | undefined,
  ) {
    this.subscriber = {
      onRecord: (record) => {
        if (!matches(record)) return;
        this.lastSignalled = record.seq;
        if (this.keep && !this.overflowed) {
          this.kept.push(record);
          this.keptBytes += record.size;
          if (this.keptBytes > this.keep.maxBytes) this.drop(true);
        }
        this.wake?.();
      },
      onFeedError: (error) => {
        this.failure = error;
        this.wake?.();
      },
    };
  }

  /** Joins the session's feed (creating it) and waits until it is live. Throws `UNAVAILABLE` at `maxFeeds`. */
  static async open(
    feeds: FeedRegistry,
    session: string,
    matches: (record: FeedRecord) => boolean,
    keep?: { maxBytes: number; toJson(record: FeedRecord): unknown },
  ): Promise<LiveTap> {
    const feed = feeds.acquire(session);
    const tap = new LiveTap(feeds, feed, matches, keep);
    try {
      await feed.ready;
    } catch (error) {
      tap[Symbol.dispose]();
      throw error;
    }
    feed.add(tap.subscriber);
    return tap;
  }

  /** Resolves true once a matching record with seq > `after` was dispatched; false on timeout or abort. Throws when the feed failed. */
  async next(after: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.failure) throw this.failure;
    if (this.lastSignalled > after) return true;
    if (signal?.aborted || this.closed) return false;
    return new Promise<boolean>((resolve, reject) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.wake = undefined;
        if (this.failure) reject(this.failure);
        else resolve(value);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.wake = (closing = false) => {
        if (closing) done(false);
        else if (this.failure || this.lastSignalled > after) done(true);
      };
    });
  }

  /**
   * The kept records after `after` as a complete read (a tap opened with
   * `keep`), or undefined when the reader must read the stream instead (no
   * `keep`, or records were dropped at the bound since the last take).
   */
  takeAfter(after: number): ReadResult | undefined {
    if (!this.keep) return undefined;
    if (this.overflowed) {
      this.overflowed = false;
      return undefined;
    }
    const records = this.kept.filter((r) => r.seq > after);
    this.drop(false);
    const keep = this.keep;
    return {
      chunks: records.map((r) => ({ seq: r.seq, json: [keep.toJson(r)] })),
      lastSeq: records.at(-1)?.seq ?? after,
      complete: true,
    };
  }

  private drop(overflowed: boolean): void {
    this.kept = [];
    this.keptBytes = 0;
    this.overflowed = overflowed;
  }

  [Symbol.dispose](): void {
    if (this.closed) return;
    this.closed = true;
    this.feed.remove(this.subscriber);
    this.feeds.release(this.feed);
    this.wake?.(true);
  }
}
