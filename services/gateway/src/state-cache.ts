import {
  emptySessionState,
  type SessionState,
  STATE_EVENT_TYPE,
  type StateRecord,
  type StreamState,
  stepState,
} from "@threadline/protocol";
import type { FeedRecord } from "./feed-record.ts";
import type { FeedSubscriber, SessionFeed } from "./session-feed.ts";

/** Where a view's state comes from when it is not (or no longer) kept current by a live feed. */
export interface StateSource {
  streamState(): Promise<StreamState>;
  /**
   * The fold of the session's stored state events after `start.seq`, stopping after `upToSeq`
   * (store: `foldStoredState`); `onRecord` sees each state record folded.
   */
  fold(
    session: string,
    start: SessionState,
    upToSeq?: number,
    onRecord?: (record: StateRecord) => void,
  ): Promise<SessionState>;
}

export interface StateCacheOptions {
  /** Sessions whose state is kept in memory (least recently used evicted beyond). */
  maxSessions: number;
  /** The session's feed on this gateway when one is open (FeedRegistry.active). */
  feedOf(session: string): SessionFeed | undefined;
  /** How long a write waits for the live feed to deliver the gateway's previous write before reading the history instead. */
  feedWaitMs?: number;
}

/**
 * The gateway's view of each session's shared state (PROTOCOL.md §19), for
 * the pre-check of client state ops (§19.4) and the `state` frame of
 * `attach {state: true}` (§19.5).
 *
 * A view is the fold of the session's stored `st` events up to `state.seq`.
 * It is built by folding the stored `st` lane through the history reader,
 * then kept current by the session's live feed when the session is active
 * on this gateway (the view is a feed subscriber, so it sees every stored
 * record the feed dispatches). While a history read runs, feed records are
 * buffered and applied after it, so nothing between the two is missed. When
 * the view cannot be trusted — no open feed, the feed ended (closed after
 * its linger, or failed: epoch change, lost history), or a new stream epoch —
 * the next use reads the history again (incrementally after `state.seq`, or
 * from scratch after an epoch change).
 *
 * Writes of one session on this gateway are serialized (`write`): each
 * pre-checks against a view that includes the previous one's stored op, so
 * e.g. pipelined creates cannot pass the 100-object limit together. Writers
 * on other gateways and agents can still race; the stream's fold is the
 * judge (§19.4), this only avoids storing what is certain to fail.
 *
 * A client resending a stored op (same event id, after a lost `published`,
 * PROTOCOL.md §14) must get `published {duplicate: true}`, not a refusal
 * from a view that already includes its op: each view remembers the ids of
 * its last `RECENT_IDS` state events, and `write` skips the check for them
 * (the publisher then answers the duplicate).
 *
 * Bounded: at most `maxSessions` views (LRU), each at most `maxObjects`
 * objects of `maxObjectBytes` (state.ts limits), i.e. ~6.4 MB worst case per
 * session; evicted views are rebuilt from the stream when used again.
 */
export class SessionStateCache {
  private readonly views = new Map<string, StateView>();
  private readonly feedWaitMs: number;

  constructor(
    private readonly source: StateSource,
    private readonly options: StateCacheOptions,
  ) {
    this.feedWaitMs = options.feedWaitMs ?? 2_000;
  }

  get size(): number {
    return this.views.size;
  }

  /**
   * Runs `check` against the session's current state (which includes every
   * op this gateway stored for it before), then `store` when `check` did not
   * throw. Calls for one session run one at a time.
   */
  write<R extends { seq: number }>(
    session: string,
    eventId: string,
    check: (state: SessionState) => void,
    store: () => Promise<R>,
  ): Promise<R> {
    const view = this.view(session);
    return view.serialize(async () => {
      await this.refresh(view, session, view.written);
      if (!view.recentIds.has(eventId)) check(view.state);
      const result = await store();
      view.written = Math.max(view.written, result.seq);
      return result;
    });
  }

  /** Every object of the session as of exactly `seq` (a stored position: the attachment's `from`). */
  snapshot(session: string, seq: number): Promise<SessionState["objects"]> {
    const view = this.view(session);
    return view.serialize(async () => {
      await this.refresh(view, session, seq);
      // The view's objects are the fold at every seq from its last state record on.
      if (view.lastStateSeq <= seq) return view.state.objects;
      // A position in the past: fold the history up to it (not cached).
      return (await this.source.fold(session, emptySessionState(), seq)).objects;
    });
  }

  /** Drops every view (gateway shutdown). */
  clear(): void {
    for (const view of this.views.values()) view.detach();
    this.views.clear();
  }

  private view(session: string): StateView {
    let view = this.views.get(session);
    if (view) this.views.delete(session);
    else view = new StateView();
    this.views.set(session, view);
    while (this.views.size > this.options.maxSessions) {
      const [oldest, evicted] = this.views.entries().next().value as [string, StateView];
      evicted.detach();
      this.views.delete(oldest);
    }
    return view;
  }

  /** Brings `view` to at least `minSeq` (a stored seq) and to what the stream held when called. */
  private async refresh(view: StateView, session: string, minSeq: number): Promise<void> {
    if (view.live) {
      if (view.through >= minSeq) return;
      if (await view.waitFor(minSeq, this.feedWaitMs)) return;
    }
    view.detach();
    // Subscribe before reading, buffering: the history read plus the feed's records after it leave no gap.
    const feed = this.options.feedOf(session);
    if (feed?.started) view.attach(feed);
    try {
      const stream = await this.source.streamState();
      if (view.invalid || view.epoch !== stream.epoch || stream.lastSeq < view.state.seq) view.reset(stream.epoch);
      const folded = await this.source.fold(session, view.state, undefined, (record) => view.remember(record));
      // Complete up to the stream's last seq read before the fold began (the read contract).
      view.folded(folded, stream.lastSeq);
    } catch (error) {
      view.detach();
      throw error;
    }
  }
}

/** State event ids a view remembers (see SessionStateCache: resent ops). */
const RECENT_IDS = 1024;

/** One session's view (see SessionStateCache). */
class StateView implements FeedSubscriber {
  state: SessionState = emptySessionState();
  /** Seq of the last state record folded: `state.objects` is the fold at every seq in [lastStateSeq, state.seq]. */
  lastStateSeq = 0;
  /** Highest seq of an op this gateway stored for the session (its next pre-check must include it). */
  written = 0;
  epoch: string | undefined;
  /** The feed ended with an error (e.g. epoch change): the next refresh starts from scratch. */
  invalid = false;
  private feed: SessionFeed | undefined;
  /** Feed records that arrived while a history read ran. */
  private buffer: FeedRecord[] | undefined;
  private waiters: { seq: number; resolve: (reached: boolean) => void }[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Ids of the last RECENT_IDS state events folded (insertion order: oldest first). */
  readonly recentIds = new Set<string>();

  /** Kept current by an open feed (and not in the middle of a history read). */
  get live(): boolean {
    return this.feed?.started === true && this.buffer === undefined && !this.invalid;
  }

  /**
   * The position the objects are complete up to. While live, that is the feed's last seq: the feed
   * dispatches every record to the view, and skips only payloads that are not events (no state).
   */
  get through(): number {
    return this.live ? Math.max(this.state.seq, this.feed!.lastSeq) : this.state.seq;
  }

  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  onRecord(record: FeedRecord): void {
    if (this.buffer) this.buffer.push(record);
    else this.apply(record);
  }

  onFeedError(): void {
    // The feed dropped every subscriber; what it handed out may be void (new epoch, lost history).
    this.invalid = true;
    this.feed = undefined;
    this.buffer = undefined;
    this.settle(false);
  }

  attach(feed: SessionFeed): void {
    this.feed = feed;
    this.buffer = [];
    feed.add(this);
  }

  detach(): void {
    this.feed?.remove(this);
    this.feed = undefined;
    this.buffer = undefined;
    this.settle(false);
  }

  reset(epoch: string): void {
    this.state = emptySessionState();
    this.lastStateSeq = 0;
    this.written = 0;
    this.recentIds.clear();
    this.epoch = epoch;
    this.invalid = false;
  }

  /** A history fold finished: adopt it (complete up to `through`), then the records buffered meanwhile. */
  folded(folded: SessionState, through: number): void {
    if (folded.seq > this.state.seq) this.lastStateSeq = folded.seq;
    this.state = { seq: Math.max(folded.seq, through), objects: folded.objects };
    const buffered = this.buffer ?? [];
    this.buffer = undefined;
    for (const record of buffered) this.apply(record);
  }

  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        seq,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      this.waiters.push(waiter);
    });
  }

  remember(record: StateRecord): void {
    if (record.event.type !== STATE_EVENT_TYPE) return;
    this.recentIds.add(record.event.id);
    if (this.recentIds.size > RECENT_IDS) this.recentIds.delete(this.recentIds.values().next().value as string);
  }

  private apply(record: FeedRecord): void {
    if (record.seq > this.state.seq) this.remember(record);
    const { state, outcome } = stepState(this.state, record);
    if (outcome !== "duplicate" && outcome !== "not_a_state_event") this.lastStateSeq = record.seq;
    this.state = state;
    if (this.waiters.length > 0) {
      const reached = this.waiters.filter((w) => w.seq <= state.seq);
      this.waiters = this.waiters.filter((w) => w.seq > state.seq);
      for (const w of reached) w.resolve(true);
    }
  }

  private settle(reached: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve(reached);
  }
}
