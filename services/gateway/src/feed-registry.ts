import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import type { LiveSource } from "./live-source.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { RecentEvents } from "./recent-events.ts";
import { SessionFeed, type SessionFeedOptions } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";

export interface FeedRegistryOptions extends SessionFeedOptions {
  /** Keep a feed this long after its last subscriber left, so reconnects resume from memory. */
  lingerMs: number;
  /** Active feeds per gateway. Above: attaches fail with a retryable `UNAVAILABLE`. */
  maxFeeds: number;
}

/**
 * One `SessionFeed` per active session on this gateway, all fed by one live
 * source (one JetStream consumer per gateway, never one per socket).
 */
export class FeedRegistry {
  private readonly feeds = new Map<
    string,
    { feed: SessionFeed; refs: number; linger?: ReturnType<typeof setTimeout> }
  >();

  constructor(
    private readonly live: LiveSource,
    private readonly history: SessionHistory,
    private readonly options: FeedRegistryOptions,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly recent?: RecentEvents,
  ) {}

  get size(): number {
    return this.feeds.size;
  }

  /** Returns the session's feed (creating it), counting one reference. Pair with `release`. */
  acquire(session: string): SessionFeed {
    let entry = this.feeds.get(session);
    if (!entry || entry.feed.closed) {
      if (this.feeds.size >= this.options.maxFeeds) {
        throw new ThreadlineError(
          ErrorCode.UNAVAILABLE,
          `this gateway serves its maximum of ${this.options.maxFeeds} active sessions`,
        );
      }
      const feed = new SessionFeed(session, this.live, this.history, this.options, this.metrics, this.log, this.recent);
      entry = { feed, refs: 0 };
      this.feeds.set(session, entry);
      this.metrics.activeFeeds.set(this.feeds.size);
      const created = entry;
      feed.ready.catch(() => {
        // A feed that failed to start is discarded so the next attach tries again.
        if (this.feeds.get(session) === created) this.drop(session);
      });
    }
    clearTimeout(entry.linger);
    entry.linger = undefined;
    entry.refs++;
    return entry.feed;
  }

  /** The session's open feed, if any (no reference counted: for observers such as the state cache). */
  active(session: string): SessionFeed | undefined {
    const feed = this.feeds.get(session)?.feed;
    return feed && !feed.closed ? feed : undefined;
  }

  release(feed: SessionFeed): void {
    const entry = this.feeds.get(feed.session);
    if (!entry || entry.feed !== feed) return;
    entry.refs--;
    if (entry.refs > 0) return;
    if (feed.closed || this.options.lingerMs <= 0) {
      this.drop(feed.session);
      return;
    }
    entry.linger = setTimeout(() => {
      if (entry.refs === 0) this.drop(feed.session);
    }, this.options.lingerMs);
    entry.linger.unref?.();
  }

  /** After a NATS reconnect: resume the live source at once, and end feeds of a recreated stream explicitly. */
  async recoverAll(): Promise<void> {
    await this.live.recover().catch((error: unknown) => this.log.warn({ err: error }, "live source recovery failed"));
    await Promise.all(
      [...this.feeds.values()].map(({ feed }) =>
        feed
          .verifyEpoch()
          .catch((error: unknown) => this.log.warn({ err: error, session: feed.session }, "epoch check failed")),
      ),
    );
  }

  closeAll(): void {
    for (const session of [...this.feeds.keys()]) this.drop(session);
    this.live.close();
  }

  private drop(session: string): void {
    const entry = this.feeds.get(session);
    if (!entry) return;
    clearTimeout(entry.linger);
    entry.feed.close();
    this.feeds.delete(session);
    this.metrics.activeFeeds.set(this.feeds.size);
  }
}
