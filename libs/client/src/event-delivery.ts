import { ErrorCode, type SessionRecord, ThreadlineError } from "@threadline/protocol";
import { AsyncQueue } from "./async-queue.ts";
import { reportListenerError } from "./report-error.ts";

/** Default `events()` buffer, and how many records the replay backlog keeps before anyone subscribed. */
export const DEFAULT_HIGH_WATER_MARK = 10_000;

type Delivery = { type: "event"; record: SessionRecord } | { type: "synced"; seq: number };

interface Listener<T> {
  readonly cb: (value: T) => void;
  /** Backlog not yet handed to this listener. */
  pending: T[] | undefined;
}

/**
 * Hands a session's applied events and syncs to its consumers (`onEvent`,
 * `onSynced`, `events()` iterators), in order.
 *
 * The replay that arrives with `attached` is applied at once, before the app
 * can subscribe (`attach()` resolves after it). Until the first delivery to
 * a consumer the handle therefore keeps what it applied (the backlog, at
 * most `backlogLimit` records: beyond that it stops keeping it and later
 * consumers start at live), and every consumer that subscribes before the
 * next frame is delivered gets the backlog first — so listeners registered
 * right after `await client.attach()` see the whole replay, however the
 * socket batched the frames. Once something was delivered to a consumer the
 * backlog is gone for good: consumers added later see events from then on.
 *
 * Callbacks never run inside `onEvent()` / `onSynced()` themselves (a
 * callback may use the unsubscribe function those return): a new listener's
 * backlog is handed over in a microtask, and always before any newer
 * delivery to it.
 */
export class EventDelivery {
  private readonly eventListeners = new Set<Listener<SessionRecord>>();
  private readonly syncedListeners = new Set<Listener<number>>();
  private readonly iterators = new Set<AsyncQueue<SessionRecord>>();
  /** What was delivered before anyone subscribed; undefined once something reached a consumer (or it overflowed). */
  private backlog: Delivery[] | undefined = [];
  private backlogEvents = 0;
  private ended: { error: ThreadlineError | undefined } | undefined;

  constructor(
    private readonly session: string,
    private readonly lastSeq: () => number | undefined,
    private readonly backlogLimit = DEFAULT_HIGH_WATER_MARK,
  ) {}

  onEvent(cb: (record: SessionRecord) => void): () => void {
    return this.listen(this.eventListeners, cb, (d) => (d.type === "event" ? d.record : undefined));
  }

  onSynced(cb: (seq: number) => void): () => void {
    return this.listen(this.syncedListeners, cb, (d) => (d.type === "synced" ? d.seq : undefined));
  }

  events(highWaterMark = DEFAULT_HIGH_WATER_MARK): AsyncIterable<SessionRecord> {
    const queue: AsyncQueue<SessionRecord> = new AsyncQueue<SessionRecord>({
      highWaterMark,
      overflow: "fail",
      overflowError: () =>
        new ThreadlineError(
          ErrorCode.SLOW_CONSUMER,
          `events() consumer fell more than ${highWaterMark} events behind on session ${this.session}; ` +
            `seq ${this.lastSeq()} and later were not delivered to it`,
          { session: this.session, retryable: false },
        ),
      onClose: () => this.iterators.delete(queue),
    });
    if (this.ended) {
      if (this.ended.error) queue.fail(this.ended.error);
      else queue.end();
      return queue;
    }
    for (const d of this.backlog ?? []) if (d.type === "event") queue.push(d.record);
    this.iterators.add(queue);
    return queue;
  }

  deliverEvent(record: SessionRecord): void {
    if (this.keep({ type: "event", record })) return;
    for (const l of [...this.eventListeners]) this.call(l, record);
    for (const queue of [...this.iterators]) queue.push(record);
  }

  deliverSynced(seq: number): void {
    if (this.keep({ type: "synced", seq })) return;
    for (const l of [...this.syncedListeners]) this.call(l, seq);
  }

  /** The handle ended: iterators end (or throw `error`); later iterators end at once. */
  end(error: ThreadlineError | undefined): void {
    this.ended = { error };
    this.backlog = undefined;
    for (const queue of [...this.iterators]) {
      if (error) queue.fail(error);
      else queue.end();
    }
    this.iterators.clear();
  }

  /** True when `delivery` went to the backlog (nobody has subscribed yet). */
  private keep(delivery: Delivery): boolean {
    const hasConsumer = this.eventListeners.size + this.syncedListeners.size + this.iterators.size > 0;
    if (hasConsumer || !this.backlog) {
      this.backlog = undefined;
      return false;
    }
    if (delivery.type === "event" && ++this.backlogEvents > this.backlogLimit) {
      this.backlog = undefined;
      return true;
    }
    this.backlog.push(delivery);
    return true;
  }

  private listen<T>(set: Set<Listener<T>>, cb: (value: T) => void, pick: (d: Delivery) => T | undefined): () => void {
    const pending: T[] = [];
    for (const d of this.backlog ?? []) {
      const value = pick(d);
      if (value !== undefined) pending.push(value);
    }
    const listener: Listener<T> = { cb, pending: pending.length > 0 ? pending : undefined };
    set.add(listener);
    if (listener.pending) queueMicrotask(() => this.flush(set, listener));
    return () => {
      set.delete(listener);
    };
  }

  private call<T>(listener: Listener<T>, value: T): void {
    if (listener.pending) this.flush(undefined, listener);
    invoke(listener.cb, value);
  }

  /** Hands `listener` its backlog (unless it unsubscribed meanwhile). */
  private flush<T>(set: Set<Listener<T>> | undefined, listener: Listener<T>): void {
    const pending = listener.pending;
    listener.pending = undefined;
    for (const value of pending ?? []) {
      if (set && !set.has(listener)) return;
      invoke(listener.cb, value);
    }
  }
}

function invoke<T>(cb: (value: T) => void, value: T): void {
  try {
    cb(value);
  } catch (error) {
    reportListenerError(error);
  }
}
