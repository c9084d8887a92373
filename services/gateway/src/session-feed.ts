import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { ErrorCode, LiveGapDetector, type Subjects, ThreadlineError } from "@threadline/protocol";
import { FeedRecord } from "./feed-record.ts";
import type { HistoryReader } from "./history-reader.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";

/** Receives a feed's records. Called synchronously, in seq order, with no gaps. */
export interface FeedSubscriber {
  onRecord(record: FeedRecord): void;
  /** The feed cannot continue (e.g. the stream was recreated: epoch changed). The subscriber is dropped. */
  onFeedError(error: ThreadlineError): void;
}

export interface SessionFeedOptions {
  /** Records kept in memory for fast resume. */
  ringMaxEvents: number;
  /** Bytes kept in memory for fast resume. */
  ringMaxBytes: number;
  /** Live messages held while starting/resyncing; past it they are dropped and the resync reads them from the stream. */
  pendingMax: number;
}

interface LiveMessage {
  subject: string;
  seq: number;
  lastSubjectSeq: number;
  data: Uint8Array;
}

/**
 * The live feed of one session on one gateway, shared by every local socket
 * attached to it. It subscribes (core NATS) to the stream's republished
 * subject for the session, so live delivery costs no JetStream consumer.
 *
 * Invariant: from the moment `ready` resolves, subscribers receive every
 * event of the session with seq > `startSeq`, in order, exactly once. Core
 * NATS can lose messages (reconnects, slow consumer); loss is detected by
 * `LiveGapDetector` (Nats-Last-Sequence) or by the connection's reconnect
 * event, and repaired by `resync()`, which reads the missing events from the
 * stream before any later live event is passed on.
 *
 * It also keeps a bounded ring of recent records so that attachments resuming
 * from a recent position are served from memory.
 */
export class SessionFeed {
  readonly ready: Promise<void>;
  private readonly subscribers = new Set<FeedSubscriber>();
  private readonly ring: FeedRecord[] = [];
  private ringBytes = 0;
  /** The ring holds every event of the session with seq > baseSeq. */
  private baseSeq = 0;
  private lastSeqValue = 0;
  private epoch = "";
  private state: "starting" | "live" | "resyncing" | "closed" = "starting";
  private pending: LiveMessage[] = [];
  private pendingOverflow = false;
  private resyncAgain = false;
  private detector = new LiveGapDetector(0);
  private sub: Subscription | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly session: string,
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly history: HistoryReader,
    private readonly options: SessionFeedOptions,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  get lastSeq(): number {
    return this.lastSeqValue;
  }

  get currentEpoch(): string {
    return this.epoch;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  add(subscriber: FeedSubscriber): void {
    this.subscribers.add(subscriber);
  }

  remove(subscriber: FeedSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** Whether the ring can replay everything after `seq` (requires `ready`). */
  covers(seq: number): boolean {
    return this.state !== "starting" && this.state !== "closed" && seq >= this.baseSeq;
  }

  /** Ring records with seq > `seq`, in order. Only meaningful when `covers(seq)`. */
  after(seq: number): FeedRecord[] {
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return this.ring.slice(lo);
  }

  /** Repairs the feed from the stream after a possible loss (NATS reconnect, slow consumer, detected gap). */
  resync(reason: string): void {
    if (this.state === "closed" || this.state === "starting") return;
    if (this.state === "resyncing") {
      this.resyncAgain = true;
      return;
    }
    this.state = "resyncing";
    this.metrics.feedResyncs.inc({ reason });
    this.log.debug({ session: this.session, reason, lastSeq: this.lastSeqValue }, "feed resync");
    void this.runResync(0);
  }

  close(): void {
    if (this.closed) return;
    this.state = "closed";
    clearTimeout(this.retryTimer);
    this.sub?.unsubscribe();
    this.subscribers.clear();
    this.ring.length = 0;
    this.pending = [];
  }

  private async start(): Promise<void> {
    this.sub = this.nc.subscribe(this.subjects.liveSession(this.session), {
      callback: (err, msg) => {
        if (!err) this.onLive(msg);
      },
    });
    // The subscription must be registered at the server before the stream's
    // last seq is read; then every event after that seq reaches the callback.
    await this.nc.flush();
    const state = await this.history.streamState();
    if (this.closed) return;
    this.epoch = state.epoch;
    this.baseSeq = state.lastSeq;
    this.lastSeqValue = state.lastSeq;
    this.detector = new LiveGapDetector(state.lastSeq);
    this.state = "live";
    if (this.pendingOverflow) {
      this.pending = [];
      this.pendingOverflow = false;
      this.resync("start-overflow");
      return;
    }
    this.drainPending();
  }

  private onLive(msg: Msg): void {
    const h = msg.headers;
    const seq = Number(h?.get("Nats-Sequence"));
    const subject = h?.get("Nats-Subject") ?? "";
    const lastSubjectSeq = Number(h?.get("Nats-Last-Sequence") || 0);
    if (!Number.isSafeInteger(seq) || seq <= 0 || !subject) {
      this.metrics.invalidEvents.inc();
      return;
    }
    const live: LiveMessage = { subject, seq, lastSubjectSeq, data: msg.data };
    if (this.state === "live") this.handle(live);
    else if (this.state !== "closed") this.hold(live);
  }

  private hold(live: LiveMessage): void {
    if (this.pendingOverflow) return;
    if (this.pending.length >= this.options.pendingMax) {
      // Dropping is safe: the resync reads everything after lastSeq from the stream.
      this.pending = [];
      this.pendingOverflow = true;
      return;
    }
    this.pending.push(live);
  }

  private handle(live: LiveMessage): void {
    const verdict = this.detector.observe(live.subject, live.seq, live.lastSubjectSeq);
    if (verdict === "duplicate") return;
    if (verdict === "gap") {
      this.metrics.liveGaps.inc();
      this.hold(live);
      this.resync("gap");
      return;
    }
    const record = FeedRecord.decode(this.session, live.seq, live.subject, live.data);
    if (record) this.push(record);
    else {
      this.metrics.invalidEvents.inc();
      this.lastSeqValue = live.seq;
    }
  }

  private push(record: FeedRecord): void {
    this.lastSeqValue = record.seq;
    this.ring.push(record);
    this.ringBytes += record.size;
    while (
      this.ring.length > this.options.ringMaxEvents ||
      (this.ringBytes > this.options.ringMaxBytes && this.ring.length > 1)
    ) {
      const evicted = this.ring.shift()!;
      this.ringBytes -= evicted.size;
      this.baseSeq = evicted.seq;
    }
    for (const s of this.subscribers) s.onRecord(record);
  }

  private drainPending(): void {
    while (this.pending.length > 0 && this.state === "live") {
      this.handle(this.pending.shift()!);
    }
  }

  private async runResync(attempt: number): Promise<void> {
    try {
      const state = await this.history.streamState();
      if (this.closed) return;
      if (state.epoch !== this.epoch) {
        this.fail(
          new ThreadlineError(
            ErrorCode.INSUFFICIENT_STATE,
            "the stream was recreated (epoch changed); reload the session",
            { session: this.session },
          ),
        );
        return;
      }
      do {
        this.resyncAgain = false;
        this.pending = [];
        this.pendingOverflow = false;
        for await (const record of this.history.read(this.session, this.lastSeqValue)) {
          if (this.closed) return;
          if (record.seq <= this.lastSeqValue) continue;
          this.detector.accept(record.subject, record.seq);
          this.push(record);
        }
      } while ((this.resyncAgain || this.pendingOverflow) && this.state === "resyncing");
      if (this.state !== "resyncing") return;
      this.state = "live";
      this.drainPending();
    } catch (error) {
      if (this.closed) return;
      const delay = Math.min(5_000, 100 * 2 ** attempt);
      this.log.warn({ session: this.session, err: error, attempt, delay }, "feed resync failed; retrying");
      this.retryTimer = setTimeout(() => void this.runResync(attempt + 1), delay);
    }
  }

  private fail(error: ThreadlineError): void {
    const subscribers = [...this.subscribers];
    this.close();
    for (const s of subscribers) s.onFeedError(error);
  }
}
