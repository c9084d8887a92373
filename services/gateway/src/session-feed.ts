import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { FeedRecord } from "./feed-record.ts";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { CachedEvent, RecentEvents } from "./recent-events.ts";
import type { SessionHistory } from "./session-history.ts";

/** Bytes a decoded record adds to its payload in the ring's accounting (FeedRecord.size). */
const RECORD_OVERHEAD = 96;

/** Receives a feed's records. Called synchronously, in seq order, with no gaps. */
export interface FeedSubscriber {
  onRecord(record: FeedRecord): void;
  /** The feed cannot continue (e.g. the stream was recreated: epoch changed). The subscriber is dropped. */
  onFeedError(error: ThreadlineError): void;
}

export interface SessionFeedOptions {
  /** Records kept in memory for fast resume: the ring's bound as live events pass through it. */
  ringMaxEvents: number;
  /** Bytes kept in memory for fast resume (charged per record, see `ringCharge`), as live events pass through. */
  ringMaxBytes: number;
  /**
   * How far a catch-up that read the recent-events cache may extend the ring (default: the ring's bounds);
   * the session's next live event trims it back to `ringMaxEvents` / `ringMaxBytes`. Kept apart because a
   * ring holding live records longer than V8's young generation turns over promotes every one of them, and a
   * busy session then leaves its whole traffic as old-generation garbage until the next mark-compact
   * (test/integration/slow-client.test.ts: 60 MB through a 4 MiB ring grew the gateway by 30 MB).
   */
  catchUpMaxEvents?: number;
  catchUpMaxBytes?: number;
}

/**
 * The live feed of one session on one gateway, shared by every local socket
 * attached to it (never one NATS resource per socket; see LiveSource for
 * where the events come from).
 *
 * Invariant: from the moment `ready` resolves, subscribers receive every
 * event of the session with seq > the source's `after` at start, in order,
 * exactly once (the source may repeat events after a recovery; the feed drops
 * seq ≤ its last). It also keeps a bounded ring of recent records so that
 * attachments resuming from a recent position are served from memory; below
 * the ring, the gateway's recent-events cache (recent-events.ts) serves older
 * positions it covers, and catch-ups that read it fill the ring when it fits.
 */
export class SessionFeed {
  readonly ready: Promise<void>;
  private readonly subscribers = new Set<FeedSubscriber>();
  private ring: FeedRecord[] = [];
  /**
   * What each ring record was charged when it entered (in lockstep with `ring`): a record's `size` grows once
   * its frames are built, and an eviction must take back what was added, or `ringBytes` drifts below the
   * truth and the byte bound stops holding.
   */
  private ringCharges: number[] = [];
  private ringBytes = 0;
  /** The ring holds every event of the session with seq > baseSeq. */
  private baseSeq = 0;
  private lastSeqValue = 0;
  private lastRecordSeqValue = 0;
  private epoch = "";
  private state: "starting" | "live" | "closed" = "starting";
  private source: { close(): void } | undefined;
  private lostWhileStarting = false;
  /** The recent-events cache's generation when this feed started: a later one no longer extends the ring. */
  private recentGeneration = -1;
  /**
   * Carries `session` in every line; made on the first line logged, not per feed: a pino child costs
   * every session of the gateway memory (one per session with sockets here) and most feeds never log.
   */
  private logChild: Logger | undefined;

  constructor(
    readonly session: string,
    private readonly live: LiveSource,
    private readonly history: SessionHistory,
    private readonly options: SessionFeedOptions,
    private readonly metrics: GatewayMetrics,
    private readonly baseLog: Logger,
    /** The gateway's recent-events cache: serves what the ring does not hold (events before the feed started, or evicted). */
    private readonly recent?: RecentEvents,
  ) {
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  private get log(): Logger {
    this.logChild ??= this.baseLog.child({ session: this.session });
    return this.logChild;
  }

  get lastSeq(): number {
    return this.lastSeqValue;
  }

  /** Seq of the last record dispatched to subscribers; 0 before the first. */
  get lastRecordSeq(): number {
    return this.lastRecordSeqValue;
  }

  get currentEpoch(): string {
    return this.epoch;
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  /** Started and not closed: subscribers added now get every record after `lastSeq`. */
  get started(): boolean {
    return this.state === "live";
  }

  add(subscriber: FeedSubscriber): void {
    this.subscribers.add(subscriber);
  }

  remove(subscriber: FeedSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** Whether the ring (or the recent-events cache below it) can replay everything after `seq` (requires `ready`). */
  covers(seq: number): boolean {
    return this.coverage(seq) !== undefined;
  }

  /**
   * A seq the live source knows is stored but has not delivered yet (it lags
   * the stream; any session's event), or `undefined`. See `LiveSource.backlog`.
   */
  liveBacklog(): number | undefined {
    return this.live.backlog?.();
  }

  /** Resolves true once the live source delivered every seq ≤ `seq`, false after `timeoutMs`. */
  liveReached(seq: number, timeoutMs: number): Promise<boolean> {
    return this.live.reached?.(seq, timeoutMs) ?? Promise.resolve(true);
  }

  /**
   * Where a replay of everything after `seq` comes from: the feed's `ring`,
   * the gateway's recent-events `cache` (then the ring), or `undefined` (the stream).
   */
  coverage(seq: number): "ring" | "cache" | undefined {
    if (this.state !== "live") return undefined;
    if (seq >= this.baseSeq) return "ring";
    const from = this.cacheCoveredAfter();
    return from !== undefined && seq >= from ? "cache" : undefined;
  }

  /**
   * Records with seq > `seq`, in order, from the cache and the ring; with
   * `maxBytes`, a prefix of them whose sizes reach it (at least one record).
   * Empty only when nothing follows `seq`. Only meaningful when `covers(seq)`.
   */
  after(seq: number, maxBytes = Number.POSITIVE_INFINITY): FeedRecord[] {
    const out: FeedRecord[] = [];
    let bytes = 0;
    let from = seq;
    if (from < this.baseSeq && this.coverage(from) === "cache" && !this.extendRing(from)) {
      // Too many to keep: cached events below the ring are decoded on demand, a byte budget at a time.
      const recent = this.recent!;
      while (from < this.baseSeq) {
        const budget = maxBytes - bytes;
        const events = recent.range(this.session, from, this.baseSeq, budget);
        let rawBytes = 0;
        for (const e of events) {
          rawBytes += e.data.byteLength;
          const record = this.decodeCached(e);
          if (!record) continue; // counted and logged by decode (skipped, as on every path)
          out.push(record);
          bytes += record.size;
        }
        // `range` stops early only once its bytes reach the budget: below it, it reached the ring.
        if (events.length === 0 || rawBytes < budget) break;
        from = events.at(-1)!.seq;
        if (out.length > 0) return out;
      }
      from = Math.max(from, this.baseSeq);
    }
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid]!.seq <= from) lo = mid + 1;
      else hi = mid;
    }
    if (maxBytes === Number.POSITIVE_INFINITY)
      return out.length === 0 ? this.ring.slice(lo) : out.concat(this.ring.slice(lo));
    for (let i = lo; i < this.ring.length && (out.length === 0 || bytes < maxBytes); i++) {
      out.push(this.ring[i]!);
      bytes += this.ring[i]!.size;
    }
    return out;
  }

  /** The record at exactly `seq`, if the session has one there (only meaningful when `covers(seq - 1)`). */
  recordAt(seq: number): FeedRecord | undefined {
    if (seq - 1 >= this.baseSeq) {
      const [first] = this.after(seq - 1, 1);
      return first?.seq === seq ? first : undefined;
    }
    // Below the ring: one cached event, decoded without filling the ring (the catch-up that follows does).
    if (this.coverage(seq - 1) !== "cache") return undefined;
    const [cached] = this.recent!.range(this.session, seq - 1, seq);
    return cached ? this.decodeCached(cached) : undefined;
  }

  /**
   * Decodes the cached events after `from` (up to the ring's base) into the
   * ring when they fit within the catch-up bounds, so later catch-ups replay
   * them without decoding (and with their frames built once) until the
   * session's next live event trims the ring back to its own bounds. False
   * when they do not fit: the ring is left as it is.
   */
  private extendRing(from: number): boolean {
    const { ringMaxEvents, ringMaxBytes, catchUpMaxEvents, catchUpMaxBytes } = this.options;
    const freeBytes = Math.max(ringMaxBytes, catchUpMaxBytes ?? 0) - this.ringBytes;
    const freeEvents = Math.max(ringMaxEvents, catchUpMaxEvents ?? 0) - this.ring.length;
    if (freeBytes <= 0 || freeEvents <= 0) return false;
    // `range` stops once its payloads reach the budget, so a complete answer is below it.
    const events = this.recent!.range(this.session, from, this.baseSeq, freeBytes);
    let estimate = 0;
    for (const e of events) estimate += (e.data.byteLength + RECORD_OVERHEAD) * 2; // ringCharge's
    if (estimate > freeBytes || events.length > freeEvents) return false;
    const records: FeedRecord[] = [];
    const charges: number[] = [];
    let bytes = 0;
    for (const e of events) {
      const record = this.decodeCached(e);
      if (!record) continue; // counted and logged by decode (skipped, as on every path)
      const charge = ringCharge(record);
      records.push(record);
      charges.push(charge);
      bytes += charge;
    }
    this.ring = records.concat(this.ring);
    this.ringCharges = charges.concat(this.ringCharges);
    this.ringBytes += bytes;
    this.baseSeq = from;
    return true;
  }

  /**
   * Decodes a cached event. Its bytes are a view the cache overwrites with later deliveries, while the record
   * may outlive this call (in the ring, or in a compactor across a drain): FeedRecord.decode copies them.
   */
  private decodeCached(e: CachedEvent): FeedRecord | undefined {
    return this.decode(e.seq, e.subject, e.data, "cache");
  }

  /** Where the cache covers this session from, while it is in the generation this feed started with. */
  private cacheCoveredAfter(): number | undefined {
    const recent = this.recent;
    if (!recent || recent.generation !== this.recentGeneration) return undefined;
    return recent.coveredAfter(this.session);
  }

  /**
   * Called after a NATS reconnect: if the stream was recreated meanwhile (new
   * epoch), every position this feed handed out is void, so it ends its
   * subscribers with INSUFFICIENT_STATE instead of continuing silently.
   */
  async verifyEpoch(): Promise<void> {
    if (this.state !== "live") return;
    const state = await this.history.streamState();
    if (this.state === "live" && state.epoch !== this.epoch) {
      this.metrics.feedFailures.inc({ reason: "epoch-changed" });
      this.log.warn({ epoch: state.epoch, previous: this.epoch }, "stream recreated; ending the feed's attachments");
      this.fail(
        new ThreadlineError(
          ErrorCode.INSUFFICIENT_STATE,
          "the stream was recreated (epoch changed); reload the session",
          { session: this.session },
        ),
      );
    }
  }

  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.source?.close();
    this.subscribers.clear();
    this.ring.length = 0;
    this.ringCharges.length = 0;
  }

  private async start(): Promise<void> {
    const state = await this.history.streamState();
    if (this.closed) return;
    this.epoch = state.epoch;
    const source = await this.live.open(
      this.session,
      (m) => this.onLive(m),
      (error) => this.sourceEnded(error),
    );
    if (this.closed) {
      source.close();
      return;
    }
    if (this.lostWhileStarting) {
      this.lostWhileStarting = false;
      return this.start();
    }
    // Synchronous with the registration: the cache holds what the firehose delivered up to `after`.
    this.recent?.observeEpoch(state.epoch);
    this.recentGeneration = this.recent?.generation ?? -1;
    this.baseSeq = source.after;
    this.lastSeqValue = source.after;
    this.source = source;
    this.state = "live";
    if (this.baseLog.isLevelEnabled("debug")) this.log.debug({ from: source.after }, "feed started");
  }

  private onLive(live: LiveMessage): void {
    if (this.closed || live.seq <= this.lastSeqValue) return;
    const record = this.decode(live.seq, live.subject, live.data, "live");
    if (!record) {
      this.lastSeqValue = live.seq;
      return;
    }
    this.push(record);
  }

  /**
   * Decodes a stored event for delivery; counts and logs one that is not an envelope (skipped) or that
   * claims another author than its subject (delivered with the subject's, PROTOCOL.md §4), by `path`.
   */
  private decode(seq: number, subject: string, data: Uint8Array, path: "live" | "cache"): FeedRecord | undefined {
    const record = FeedRecord.decode(this.session, seq, subject, data);
    if (!record) {
      this.metrics.invalidEvents.inc();
      this.log.warn({ seq, subject }, "stored payload is not a valid event envelope; skipped");
      return undefined;
    }
    if (record.forgedFrom) {
      this.metrics.forgedAuthors.inc({ path });
      this.log.warn(
        { seq, subject, claimed: record.forgedFrom, from: record.event.from },
        "stored event claims another author than its subject; delivered with the subject's author",
      );
    }
    return record;
  }

  private push(record: FeedRecord): void {
    this.lastSeqValue = record.seq;
    this.lastRecordSeqValue = record.seq;
    const charge = ringCharge(record);
    this.ring.push(record);
    this.ringCharges.push(charge);
    this.ringBytes += charge;
    while (
      this.ring.length > this.options.ringMaxEvents ||
      (this.ringBytes > this.options.ringMaxBytes && this.ring.length > 1)
    ) {
      const evicted = this.ring.shift()!;
      this.ringBytes -= this.ringCharges.shift()!;
      this.baseSeq = evicted.seq;
    }
    for (const s of this.subscribers) s.onRecord(record);
  }

  /**
   * The live source dropped this feed's registration: it found the stream without events it had delivered
   * (`INSUFFICIENT_STATE`: every position handed out is void), or handling one of its events threw
   * (`UNAVAILABLE`: attachments end retryable and clients catch up from the stream again).
   */
  private sourceEnded(error: ThreadlineError): void {
    if (this.state === "starting") {
      // Dropped before this feed handed anything out: start over.
      this.lostWhileStarting = true;
      return;
    }
    if (this.state !== "live") return;
    const lost = error.code === ErrorCode.INSUFFICIENT_STATE;
    this.metrics.feedFailures.inc({ reason: lost ? "history-lost" : "dispatch-failed" });
    // A failed dispatch was logged by the live source, with the exception itself.
    if (lost)
      this.log.error(
        { lastSeq: this.lastSeqValue, err: error },
        "stream lost delivered events; ending the feed's attachments",
      );
    this.fail(new ThreadlineError(error.code, error.message, { session: this.session }));
  }

  private fail(error: ThreadlineError): void {
    const subscribers = [...this.subscribers];
    this.close();
    for (const s of subscribers) s.onFeedError(error);
  }
}

/**
 * A ring record's charge against `ringMaxBytes`: its size when it enters plus as much again, for the frames
 * sockets make it build later (a msgpack frame replaces the payload it embeds; a JSON frame is about as long
 * as the payload) — so the bound holds with both encodings in use.
 */
function ringCharge(record: FeedRecord): number {
  return record.size * 2;
}
