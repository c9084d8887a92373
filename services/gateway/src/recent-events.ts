import { sessionOfSubject } from "@threadline/protocol";
import type { LiveMessage } from "./live-source.ts";

/** Bytes accounted per cached event beyond its payload and subject (object, array slot, numbers). */
export const CACHED_EVENT_OVERHEAD = 64;

/**
 * One cached event: its stream seq and subject, where its stored bytes are in the cache's byte store, and
 * its session's entry (so an eviction finds it without parsing the subject again).
 */
interface StoredEvent {
  readonly seq: number;
  readonly subject: string;
  readonly offset: number;
  readonly length: number;
  readonly entry: SessionEntry;
}

/** A cached event as `range` hands it out: `data` is a view into the cache's store, valid until the next delivery. */
export interface CachedEvent {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

/**
 * What the cache is fed by: the gateway's firehose (live-source.ts). Contract
 * as `LiveSource.open`, for every session at once: `tap` resolves with a seq
 * `after`; from then on `onMessage` gets every event of the stream with seq >
 * `after`, in order, no gaps (repeats dropped), until `onReset(after)`: the
 * source restarted at `after` and nothing it delivered before continues.
 * `suspect()`: the source is checking whether the stream still holds what it
 * delivered (after a consumer replacement); the cache serves nothing meanwhile.
 */
export interface RecentEventsFeed {
  tap(listener: {
    onMessage(message: LiveMessage): void;
    onReset(after: number): void;
  }): Promise<{ after: number; suspect?(): boolean }>;
}

/**
 * What to do with the cache when a feed read the stream's epoch: `adopt` the
 * first one seen, `keep` it, or `reset` (the stream was recreated: nothing
 * cached names its events any more).
 */
export function epochAction(cached: string | undefined, observed: string): "adopt" | "keep" | "reset" {
  if (cached === undefined) return "adopt";
  return cached === observed ? "keep" : "reset";
}

/** A FIFO over an array with a moving head (no O(n) shift per eviction). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  /** Keeps only the items `keep` accepts, in order. */
  retain(keep: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter(keep);
    this.head = 0;
  }
}

interface SessionEntry {
  readonly session: string;
  readonly events: Fifo<StoredEvent>;
}

/**
 * A gateway-wide cache of the stored bytes of every session's recent events,
 * fed by the gateway's firehose from the gateway's start — so it is warm for
 * sessions nobody on this gateway is attached to, and catch-ups are served
 * from memory instead of reading JetStream.
 *
 * Exactness: the firehose delivers every event of the stream after its start
 * seq, in seq order without gaps (the contract SessionFeed relies on too).
 * The cache is a window over the whole stream, evicted oldest first, so it
 * holds **every event of every session with seq > `floor`** (up to the last
 * seq the firehose delivered): `floor` is the seq the cache started watching
 * at (or was reset to), raised by each eviction to the evicted seq. A session
 * with no cached event is covered after the floor too: none of its events
 * came since.
 *
 * Generations: `reset` (history lost at the source, or another epoch seen)
 * empties the cache and bumps `generation`; a reader that recorded the
 * generation when it started (SessionFeed) stops trusting the cache once it
 * changed, whatever the cache holds by then.
 *
 * Bounds: `maxBytes` over all sessions, counting payload + subject +
 * CACHED_EVENT_OVERHEAD per event; the payloads live in one circular buffer of
 * `maxBytes` (see `store`). At the limit the stream's oldest events go first,
 * whatever their session — a session keeps as much history in memory as its
 * share of the stream's recent writes — and catch-ups from before them read
 * JetStream as without the cache. There is no separate per-session bound: in a
 * circular buffer an evicted event's bytes are only reused once the oldest
 * events pass them, so it would not free memory for the others. `maxBytes` 0
 * turns the cache off (never tapped, covers nothing).
 */
export class RecentEvents {
  private readonly sessions = new Map<string, SessionEntry>();
  /** Every cached event, in seq order. */
  private readonly queue = new Fifo<StoredEvent>();
  /**
   * The events' bytes, one circular buffer of `maxBytes` written in seq order
   * and freed as the oldest events go: no allocation per event, so evicted
   * events leave no garbage behind (per-event copies promoted to the old
   * generation piled up tens of MB of dead buffers between major GCs). Pages
   * become resident as the cache first fills.
   */
  private store: Uint8Array | undefined;
  /** Where the next event's bytes are written. */
  private tail = 0;
  private bytesValue = 0;
  /** Every event of the stream with seq > floor (and ≤ lastSeq) is held. */
  private floor = 0;
  /** Whether `floor` is known (the tap is registered): before, the cache covers nothing. */
  private watching = false;
  private lastSeq = 0;
  private generationValue = 0;
  private epochValue: string | undefined;
  private suspect: () => boolean = () => false;

  constructor(
    private readonly maxBytes: number,
    private readonly onChange: (bytes: number, sessions: number) => void = () => {},
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Starts watching `feed` (no-op when off). Until it resolves, the cache covers nothing. */
  async start(feed: RecentEventsFeed, epoch: string): Promise<void> {
    if (!this.enabled) return;
    this.epochValue = epoch;
    this.store ??= new Uint8Array(this.maxBytes);
    const { after, suspect } = await feed.tap({
      onMessage: (m) => this.add(m),
      onReset: (at) => this.reset(at),
    });
    if (suspect) this.suspect = suspect;
    // Messages may have arrived between the tap's registration and here: they are after `after`.
    if (this.watching) return; // reset meanwhile: it set the floor
    this.floor = Math.max(this.floor, after);
    if (this.lastSeq < after) this.lastSeq = after;
    this.watching = true;
  }

  get bytes(): number {
    return this.bytesValue;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get generation(): number {
    return this.generationValue;
  }

  get epoch(): string | undefined {
    return this.epochValue;
  }

  /** A feed read the stream's epoch: adopts it, or resets the cache if the stream was recreated. */
  observeEpoch(epoch: string): void {
    if (!this.enabled) return;
    const action = epochAction(this.epochValue, epoch);
    if (action === "keep") return;
    if (action === "reset" && this.watching) this.reset(this.lastSeq);
    this.epochValue = epoch;
  }

  /**
   * The cache holds every event of `session` with seq > this (up to the last
   * delivered seq); `undefined` when it covers nothing (off, not started,
   * or the source is checking for lost history).
   */
  coveredAfter(_session: string): number | undefined {
    if (!this.enabled || !this.watching || this.suspect()) return undefined;
    return this.floor;
  }

  /**
   * Cached events of `session` with `after` < seq ≤ `upTo`, in order, until
   * their payloads reach `maxBytes` (at least one). Only exact when
   * `coveredAfter(session) ≤ after`. The bytes are views into the cache's
   * store, overwritten by later deliveries: copy what is kept.
   */
  range(session: string, after: number, upTo: number, maxBytes = Number.POSITIVE_INFINITY): CachedEvent[] {
    const entry = this.sessions.get(session);
    if (!entry || !this.store) return [];
    const events = entry.events;
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events.at(mid)!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const out: CachedEvent[] = [];
    let bytes = 0;
    for (let i = lo; i < events.length; i++) {
      const event = events.at(i)!;
      if (event.seq > upTo || (out.length > 0 && bytes >= maxBytes)) break;
      out.push({
        seq: event.seq,
        subject: event.subject,
        data: this.store.subarray(event.offset, event.offset + event.length),
      });
      bytes += event.length;
    }
    return out;
  }

  /** Empties the cache: it covers every session after `after` from now on (a new generation). */
  reset(after: number): void {
    this.sessions.clear();
    this.queue.retain(() => false);
    this.tail = 0;
    this.bytesValue = 0;
    this.floor = after;
    this.lastSeq = after;
    this.watching = true;
    this.generationValue++;
    this.onChange(0, 0);
  }

  private add(m: LiveMessage): void {
    if (m.seq <= this.lastSeq || !this.store) return;
    this.lastSeq = m.seq;
    const length = m.data.byteLength;
    const size = length + m.subject.length + CACHED_EVENT_OVERHEAD;
    if (size > this.maxBytes) {
      // Cannot be held: every session is covered only after it from now on.
      while (this.queue.length > 0) this.evictOldest();
      this.floor = Math.max(this.floor, m.seq);
      this.tail = 0;
      this.onChange(this.bytesValue, this.sessions.size);
      return;
    }
    while (this.bytesValue + size > this.maxBytes) this.evictOldest();
    // A private copy into the store: the delivered bytes are a view into the client's read buffer.
    const offset = this.place(length);
    this.store.set(m.data, offset);
    this.tail = offset + length;
    const session = sessionOfSubject(m.subject);
    let entry = this.sessions.get(session);
    if (!entry) {
      entry = { session, events: new Fifo() };
      this.sessions.set(session, entry);
    }
    const event: StoredEvent = { seq: m.seq, subject: m.subject, offset, length, entry };
    entry.events.push(event);
    this.queue.push(event);
    this.bytesValue += size;
    this.onChange(this.bytesValue, this.sessions.size);
  }

  /**
   * Where `length` bytes go in the store: after the last event, or at the
   * start when they do not fit before the end; the oldest events are evicted
   * until that region holds none of the queue's bytes.
   */
  private place(length: number): number {
    const capacity = this.store!.byteLength;
    for (;;) {
      const first = this.queue.peek();
      if (!first) return 0;
      if (first.offset < this.tail) {
        // Live bytes are [first.offset, tail): free are [tail, capacity) and [0, first.offset).
        if (this.tail + length <= capacity) return this.tail;
        if (length <= first.offset) return 0;
      } else if (this.tail + length <= first.offset) {
        // Wrapped: live bytes are [first.offset, capacity) and [0, tail); free is [tail, first.offset).
        return this.tail;
      }
      this.evictOldest();
    }
  }

  /** Drops the stream's oldest cached event; the floor moves past it. */
  private evictOldest(): void {
    const event = this.queue.shift();
    if (!event) return;
    this.floor = Math.max(this.floor, event.seq);
    this.bytesValue -= sizeOf(event);
    const { entry } = event;
    entry.events.shift(); // its oldest: both queues are in seq order
    if (entry.events.length === 0) this.sessions.delete(entry.session);
  }
}

function sizeOf(event: StoredEvent): number {
  return event.length + event.subject.length + CACHED_EVENT_OVERHEAD;
}
