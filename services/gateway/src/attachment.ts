import { type AttachHistory, ErrorCode, mergeHistoryAndLive, ThreadlineError } from "@threadline/protocol";
import { RetryPolicy, retryDelay, sleep } from "@threadline/store";
import type { FeedRecord } from "./feed-record.ts";
import { MessageCompactor } from "./message-compactor.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { FeedSubscriber, SessionFeed } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";

/** Bytes of replayed frames sent under one cork. */
const CORK_BYTES = 256 * 1024;

/** The socket side of an attachment (implemented by ClientConnection). */
export interface AttachmentSink {
  /** Queues an event frame. `dropped`: the socket's hard backpressure limit refused it. */
  sendEvent(record: FeedRecord): "sent" | "dropped";
  /**
   * Queues consecutive records of one session (strictly increasing seqs) in as
   * few frames as the socket negotiated: `events` frames (PROTOCOL.md §7.3) or
   * one `event` frame each. Returns how many records, from the first, were
   * queued before the socket's hard backpressure limit refused a frame (all
   * of that frame's records are then not queued).
   */
  sendEvents(records: readonly FeedRecord[]): number;
  sendFrame(frame: object): void;
  /** True while the socket has more than `maxBufferedBytes` queued. */
  readonly backedUp: boolean;
  /** Runs `send` with the socket corked (its frames leave in one write); returns what `send` returns. */
  cork<T>(send: () => T): T;
  /** Resolves true once the socket drained below its limit, false if it closed (or was closed as too slow). */
  waitDrain(): Promise<boolean>;
  readonly closed: boolean;
}

export interface AttachmentOptions {
  /** Live events buffered while a catch-up reads history; past it the catch-up reads the stream again. */
  maxBuffered: number;
  /** History read failures tolerated (with backoff) before the attachment ends with `UNAVAILABLE`. */
  maxCatchUpAttempts: number;
  /** `"compact"`: catch-ups go through a MessageCompactor (PROTOCOL.md §8.5). */
  history: AttachHistory;
  /**
   * A catch-up from memory that ends while the live source lags the stream
   * waits this long at most for what the source has not delivered yet, so
   * `synced` follows every event stored before it. Default `BACKLOG_WAIT_MS`.
   */
  backlogWaitMs?: number;
}

/** Default of `AttachmentOptions.backlogWaitMs`, ms. */
export const BACKLOG_WAIT_MS = 2_000;

/**
 * One socket attached to one session. Modes:
 * - `catchup`: replaying from `lastSent` (from the feed's ring, or the stream
 *   while live records are buffered), then merging the buffer by seq;
 * - `live`: forwarding the feed's records as they come;
 * - `lagging`: the socket is backed up; live records are skipped and the
 *   attachment catches up from `lastSent` once the socket drains.
 * `lastSent` only advances when a frame was queued to the socket, so every
 * path resumes exactly after the last event the client was given.
 */
export class Attachment implements FeedSubscriber {
  private mode: "catchup" | "live" | "lagging" | "closed" = "catchup";
  private buffer: FeedRecord[] = [];
  private overflow = false;
  private catchingUp = false;
  private syncedSent = false;
  /** The current catch-up pass's compactor (compact attachments only); a new pass starts a new one. */
  private compactor: MessageCompactor | undefined;
  /** Highest seq given to the compactor in this pass (it may hold records beyond `lastSent`). */
  private replayedSeq = 0;

  constructor(
    readonly session: string,
    readonly feed: SessionFeed,
    private readonly sink: AttachmentSink,
    private readonly history: SessionHistory,
    private readonly options: AttachmentOptions,
    private readonly metrics: GatewayMetrics,
    private readonly onEnd: (attachment: Attachment, error: ThreadlineError) => void,
    public lastSent: number,
  ) {}

  /** A getter, so checks after an `await` are not narrowed away by the compiler. */
  private get ended(): boolean {
    return this.mode === "closed";
  }

  onRecord(record: FeedRecord): void {
    if (this.mode === "live") {
      if (!this.deliver(record)) this.fallBehind();
    } else if (this.mode === "catchup" && !this.overflow) {
      if (this.buffer.length >= this.options.maxBuffered) {
        this.buffer = [];
        this.overflow = true;
      } else this.buffer.push(record);
    }
  }

  onFeedError(error: ThreadlineError): void {
    this.end(error);
  }

  /** Starts (or restarts) catching up from `lastSent`. Safe to call repeatedly. */
  async catchUp(): Promise<void> {
    if (this.catchingUp || this.mode === "closed") return;
    this.catchingUp = true;
    const started = performance.now();
    try {
      await this.feed.ready;
      let failures = 0;
      let passes = 0;
      /** Waited once for the live source's backlog in this catch-up (bounded: it is not waited for again). */
      let waitedForBacklog = false;
      for (;;) {
        if (this.ended) return;
        this.mode = "catchup";
        this.buffer = [];
        this.overflow = false;
        this.compactor = this.options.history === "compact" ? new MessageCompactor(this.session) : undefined;
        this.replayedSeq = this.lastSent;
        // Records the feed dispatched before this pass are not buffered: the history read must reach them.
        const mustReach = this.feed.lastRecordSeq;
        const coverage = this.feed.coverage(this.lastSent);
        if (passes++ === 0) this.metrics.catchUps.inc({ source: coverage ?? "history" });
        if (coverage) {
          // From memory (the ring, and the recent-events cache below it): synchronous per chunk, so no feed
          // record interleaves and nothing needs buffering; one cork per chunk, and a backed-up socket is
          // drained before the pass starts over from `lastSent` (memory may hold megabytes of the session).
          let from = Math.max(this.lastSent, this.replayedSeq);
          let done = false;
          let refused = false;
          let backlog: number | undefined;
          while (!this.sink.backedUp) {
            const chunk = this.feed.after(from, CORK_BYTES);
            if (chunk.length === 0) {
              // Memory ends here, but the live source has not delivered everything stored yet (it lags the
              // stream): wait for that first, so `synced` comes after every event stored before it.
              backlog = waitedForBacklog ? undefined : this.feed.liveBacklog();
              done = backlog === undefined;
              break;
            }
            // One frame (or a few) per chunk where the socket takes `events` batches; the socket's limit is
            // checked between chunks, like the history path.
            if (!this.sink.cork(() => this.replay(chunk))) {
              refused = true;
              break;
            }
            from = chunk.at(-1)!.seq;
          }
          if (refused || (done && !this.sink.cork(() => this.deliverAll(this.compactor?.finish())))) {
            return this.fallBehind();
          }
          if (done) break;
          if (backlog !== undefined) {
            // Then a new pass from `lastSent` (what came meanwhile is in memory, or the pass reads the stream).
            waitedForBacklog = true;
            const reached = await this.feed.liveReached(backlog, this.options.backlogWaitMs ?? BACKLOG_WAIT_MS);
            this.metrics.catchUpBacklogWaits.inc({ outcome: reached ? "reached" : "timeout" });
            continue;
          }
          if (!(await this.sink.waitDrain())) return;
          continue;
        }
        let restart = false;
        try {
          for await (const batch of this.history.read(this.session, this.lastSent)) {
            if (this.ended) return;
            let i = 0;
            while (i < batch.length) {
              // One syscall per chunk instead of one per frame; the socket's limit is checked between chunks.
              const from = i;
              let bytes = 0;
              while (i < batch.length && bytes < CORK_BYTES) bytes += batch[i++]!.size;
              const chunk = from === 0 && i === batch.length ? batch : batch.slice(from, i);
              const sent = this.sink.cork(() => this.replay(chunk));
              if (!sent) {
                // Refused by the socket: lastSent is just before it; read again from there after the drain.
                restart = true;
                break;
              }
              if (this.sink.backedUp && !(await this.sink.waitDrain())) return;
              if (this.ended) return;
            }
            if (restart) break;
          }
        } catch (error) {
          if (this.ended) return;
          if (++failures >= this.options.maxCatchUpAttempts) {
            this.end(
              new ThreadlineError(
                ErrorCode.UNAVAILABLE,
                "cannot read the session history right now; re-attach to resume",
                { session: this.session, cause: error },
              ),
            );
            return;
          }
          await sleep(retryDelay(failures, RetryPolicy.historyRead));
          continue;
        }
        if (restart) {
          if (!(await this.sink.waitDrain())) return;
          continue;
        }
        if (this.overflow) continue;
        if (Math.max(this.lastSent, this.replayedSeq) < mustReach) {
          // The history consumer is R1 on any replica of the stream; a replica behind the leader (e.g.
          // catching up after a restart) misses the newest events, which the feed already dispatched.
          // Read again (from the ring if it covers by now) rather than leave a gap.
          if (++failures >= this.options.maxCatchUpAttempts) {
            this.end(
              new ThreadlineError(ErrorCode.UNAVAILABLE, "the session history is behind the live feed; re-attach", {
                session: this.session,
              }),
            );
            return;
          }
          await sleep(retryDelay(failures, RetryPolicy.historyRead));
          continue;
        }
        // History ended at the consumer's creation; the buffer holds what the feed delivered since
        // this pass began. Merge by seq (dropping what history already sent).
        const buffered = mergeHistoryAndLive(this.lastSent, [], this.buffer);
        this.buffer = [];
        if (!this.replay(buffered) || !this.deliverAll(this.compactor?.finish())) return this.fallBehind();
        break;
      }
      if (this.ended) return;
      this.compactor = undefined;
      this.mode = "live";
      this.metrics.catchUpSeconds.observe((performance.now() - started) / 1000);
      if (!this.syncedSent) {
        this.syncedSent = true;
        this.sink.sendFrame({ op: "synced", session: this.session, seq: this.lastSent });
      }
      if (this.sink.backedUp) this.fallBehind();
    } finally {
      this.catchingUp = false;
    }
  }

  close(): void {
    this.mode = "closed";
    this.buffer = [];
  }

  /**
   * Sends replayed records (seq order), through the compactor when there is
   * one, batched into `events` frames where the socket accepts them. False
   * when the socket refused a frame (lastSent is then just before it).
   */
  private replay(records: readonly FeedRecord[]): boolean {
    if (!this.compactor) return this.deliverAll(records);
    const out: FeedRecord[] = [];
    for (const record of records) {
      if (record.seq <= this.replayedSeq) continue;
      this.replayedSeq = record.seq;
      for (const emitted of this.compactor.push(record)) out.push(emitted);
    }
    return this.deliverAll(out);
  }

  /** Sends the records that are new (seq > lastSent, in order) in as few frames as the socket takes. */
  private deliverAll(records: readonly FeedRecord[] | undefined): boolean {
    if (records === undefined) return true;
    const fresh: FeedRecord[] = [];
    let last = this.lastSent;
    for (const record of records) {
      if (record.seq <= last) continue;
      fresh.push(record);
      last = record.seq;
    }
    if (fresh.length === 0) return true;
    const sent = this.sink.sendEvents(fresh);
    if (sent > 0) this.lastSent = fresh[sent - 1]!.seq;
    return sent === fresh.length;
  }

  /** Sends one record if it is new. False when the socket refused it (lastSent unchanged). */
  private deliver(record: FeedRecord): boolean {
    if (record.seq <= this.lastSent) return true;
    if (this.sink.sendEvent(record) === "dropped") return false;
    this.lastSent = record.seq;
    return !this.sink.backedUp || this.mode !== "live";
  }

  private fallBehind(): void {
    if (this.mode === "closed" || this.mode === "lagging") return;
    this.mode = "lagging";
    this.buffer = [];
    this.metrics.slowFallbacks.inc();
    void this.sink.waitDrain().then((drained) => {
      if (drained && this.mode === "lagging") void this.catchUp();
    });
  }

  private end(error: ThreadlineError): void {
    if (this.ended) return;
    this.close();
    this.onEnd(this, error);
  }
}
