import { sessionOfSubject } from "@threadline/protocol";
import type { LiveMessage } from "./live-source.ts";

/** Bytes accounted per cached event beyond its payload and subject (object, array slot, numbers). */
export const CACHED_EVENT_OVERHEAD = 64;
/** One session may hold at most this share of the cache's bytes, so one busy session cannot flush all others. */
export const SESSION_SHARE = 4;

/** One stored event as the firehose delivered it: its stream seq, subject and stored bytes (a private copy). */
export interface CachedEvent {
  readonly seq: number;
  readonly subject: string;
  /** Emptied when the event is evicted through its session's bound. */
  data: Uint8Array;
  /** Set once the event left the cache through its session's own bound (the global queue skips it). */
  evicted: boolean;
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
  readonly events: Fifo<CachedEvent>;
  bytes: number;
  /** Seq of the last event evicted through the session's own bound (0: none). */
  evictedUpTo: number;
}

/**
 * A gateway-wide cache of the stored bytes of every session's recent events,
 * fed by the gateway's firehose from the gateway's start — so it is warm for
 * sessions nobody on this gateway is attached to, and catch-ups are served
 * from memory instead of reading JetStream.
 *
 * Exactness: the firehose delivers every event of the stream after its start
 * seq, in seq order without gaps (the contract SessionFeed relies on too). The
 * cache evicts oldest-first, globally and per session, so per session it
 * always holds a suffix: **every event of the session with seq >
 * `coveredAfter(session)`**, up to the last seq the firehose delivered.
 * `coveredAfter` is the largest of: the seq the cache started watching at (or
 * was reset to), the last seq evicted globally, and the last seq evicted
 * through the session's own bound. A session with no cached event is covered
 * after the global floor: none of its events came since.
 *
 * Generations: `reset` (history lost at the source, or another epoch seen)
 * empties the cache and bumps `generation`; a reader that recorded the
 * generation when it started (SessionFeed) stops trusting the cache once it
 * changed, whatever the cache holds by then.
 *
 * Bounds (at the limit the oldest events go first, catch-ups from before them
 * read JetStream as without the cache): `maxBytes` over all sessions (payload +
 * subject + CACHED_EVENT_OVERHEAD per event); one session at most
 * `maxBytes / SESSION_SHARE` (or its newest event alone, if larger). `maxBytes` 0 turns the cache off (never tapped,
 * covers nothing).
 */
export class RecentEvents {
  private readonly sessions = new Map<string, SessionEntry>();
  /** Every cached event in seq order (entries evicted per session are skipped lazily). */
  private readonly queue = new Fifo<CachedEvent>();
  private bytesValue = 0;
  /** Every event of the stream with seq > floor (and ≤ lastSeq) is held, or was evicted per session. */
  private floor = 0;
  /** Whether `floor` is known (the tap is registered): before, the cache covers nothing. */
  private watching = false;
  private lastSeq = 0;
  private generationValue = 0;
  private epochValue: string | undefined;
  private readonly sessionMaxBytes: number;
  private suspect: () => boolean = () => false;
  /** Events evicted per session still referenced by `queue`. */
  private stale = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onChange: (bytes: number, sessions: number) => void = () => {},
  ) {
    this.sessionMaxBytes = Math.floor(maxBytes / SESSION_SHARE);
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Starts watching `feed` (no-op when off). Until it resolves, the cache covers nothing. */
  async start(feed: RecentEventsFeed, epoch: string): Promise<void> {
    if (!this.enabled) return;
    this.epochValue = epoch;
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
  coveredAfter(session: string): number | undefined {
    if (!this.enabled || !this.watching || this.suspect()) return undefined;
    return Math.max(this.floor, this.sessions.get(session)?.evictedUpTo ?? 0);
  }

  /**
   * Cached events of `session` with `after` < seq ≤ `upTo`, in order, until
   * their payloads reach `maxBytes` (at least one). Only exact when
   * `coveredAfter(session) ≤ after`.
   */
  range(session: string, after: number, upTo: number, maxBytes = Number.POSITIVE_INFINITY): CachedEvent[] {
    const entry = this.sessions.get(session);
    if (!entry) return [];
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
      out.push(event);
      bytes += event.data.byteLength;
    }
    return out;
  }

  /** Empties the cache: it covers every session after `after` from now on (a new generation). */
  reset(after: number): void {
    this.sessions.clear();
    this.queue.retain(() => false);
    this.bytesValue = 0;
    this.stale = 0;
    this.floor = after;
    this.lastSeq = after;
    this.watching = true;
    this.generationValue++;
    this.onChange(0, 0);
  }

  private add(m: LiveMessage): void {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    const session = sessionOfSubject(m.subject);
    // A private copy: the delivered bytes are a view into the client's read buffer, which would stay alive.
    const event: CachedEvent = { seq: m.seq, subject: m.subject, data: m.data.slice(), evicted: false };
    const size = sizeOf(event);
    let entry = this.sessions.get(session);
    if (!entry) {
      entry = { events: new Fifo(), bytes: 0, evictedUpTo: 0 };
      this.sessions.set(session, entry);
    }
    entry.events.push(event);
    entry.bytes += size;
    this.queue.push(event);
    this.bytesValue += size;
    // The session's newest event stays even when it alone passes the session's share (the global bound still applies).
    while (entry.bytes > this.sessionMaxBytes && entry.events.length > 1) {
      const old = entry.events.shift()!;
      entry.bytes -= sizeOf(old);
      this.bytesValue -= sizeOf(old);
      entry.evictedUpTo = old.seq;
      old.evicted = true;
      old.data = EMPTY;
      this.stale++;
    }
    while (this.bytesValue > this.maxBytes) this.evictOldest();
    // Per-session evictions leave stubs in the global queue: compact it before they outnumber live events.
    if (this.stale > 1024 && this.stale * 2 > this.queue.length) {
      this.queue.retain((e) => !e.evicted);
      this.stale = 0;
    }
    this.onChange(this.bytesValue, this.sessions.size);
  }

  /** Drops the stream's oldest cached event; the floor moves past it. */
  private evictOldest(): void {
    const event = this.queue.shift();
    if (!event) return;
    this.floor = Math.max(this.floor, event.seq);
    if (event.evicted) {
      this.stale--;
      return;
    }
    const session = sessionOfSubject(event.subject);
    const entry = this.sessions.get(session)!;
    entry.events.shift();
    entry.bytes -= sizeOf(event);
    this.bytesValue -= sizeOf(event);
    // Its own evictions were all before this event, so below the floor now: the entry can go.
    if (entry.events.length === 0) this.sessions.delete(session);
  }
}

const EMPTY = new Uint8Array(0);

function sizeOf(event: CachedEvent): number {
  return event.data.byteLength + event.subject.length + CACHED_EVENT_OVERHEAD;
}
