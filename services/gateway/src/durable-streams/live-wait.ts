import type { ThreadlineError } from "@threadline/protocol";
import type { FeedRecord } from "../feed-record.ts";
import type { FeedRegistry } from "../feed-registry.ts";
import type { FeedSubscriber } from "../session-feed.ts";

/**
 * A live reader's tap on the session's feed (the gateway's one live feed per
 * active session, feed-registry.ts — never a JetStream consumer per
 * request). Open it *before* reading history, so nothing stored between the
 * read and the wait is missed: `next(after, timeoutMs)` resolves true as soon
 * as the feed has dispatched a matching record with seq > `after` (also one
 * that arrived before the call), false on timeout or when `signal` aborts.
 */
export class LiveTap implements Disposable {
  private lastSignalled = 0;
  private wake: ((closing?: boolean) => void) | undefined;
  private failure: ThreadlineError | undefined;
  private readonly subscriber: FeedSubscriber;
  private closed = false;

  private constructor(
    private readonly feeds: FeedRegistry,
    private readonly feed: ReturnType<FeedRegistry["acquire"]>,
    matches: (record: FeedRecord) => boolean,
  ) {
    this.subscriber = {
      onRecord: (record) => {
        if (!matches(record)) return;
        this.lastSignalled = record.seq;
        this.wake?.();
      },
      onFeedError: (error) => {
        this.failure = error;
        this.wake?.();
      },
    };
  }

  /** Joins the session's feed (creating it) and waits until it is live. Throws `UNAVAILABLE` at `maxFeeds`. */
  static async open(feeds: FeedRegistry, session: string, matches: (record: FeedRecord) => boolean): Promise<LiveTap> {
    const feed = feeds.acquire(session);
    const tap = new LiveTap(feeds, feed, matches);
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

  [Symbol.dispose](): void {
    if (this.closed) return;
    this.closed = true;
    this.feed.remove(this.subscriber);
    this.feeds.release(this.feed);
    this.wake?.(true);
  }
}
