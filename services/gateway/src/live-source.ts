import {
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type OrderedConsumerOptions,
} from "@nats-io/jetstream";
import { ErrorCode, sessionOfSubject, ThreadlineError } from "@threadline/protocol";
import { hedged, withDeadline } from "@threadline/store";
import type { GatewayMetrics } from "./metrics.ts";
import type { SessionHistory } from "./session-history.ts";
import { HISTORY_LOSS_GRACE_MS } from "./start-resolution.ts";

export interface LiveMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
}

/**
 * Where a gateway's live events come from.
 * Contract: `open(session, onMessage)` resolves with a seq `after`; from then
 * on `onMessage` receives every event of the session with seq > `after`, in
 * seq order, with no gaps, until `close()` — across NATS reconnects and
 * server restarts (an event may be repeated after a recovery; callers drop
 * seq ≤ what they have) — or until `onLost(error)`, which drops the
 * registration: `INSUFFICIENT_STATE` when the stream no longer holds events
 * the source already delivered (its history was cut back and maybe
 * rewritten under the same seqs), so nothing delivered so far can be
 * continued; `UNAVAILABLE` when `onMessage` threw (the event and what
 * follows are not delivered to it; the session can be read again from its
 * last seq).
 */
export interface LiveSource {
  open(
    session: string,
    onMessage: (message: LiveMessage) => void,
    onLost?: (error: ThreadlineError) => void,
  ): Promise<{ after: number; close(): void }>;
  /** After a NATS reconnect: resume delivery now rather than after missed heartbeats. */
  recover(): Promise<void>;
  /**
   * The highest seq the server reported as stored but this source has not
   * delivered yet (it lags the stream), or `undefined` when it is not known
   * to lag. Optional: a source without it is taken as never lagging.
   */
  backlog?(): number | undefined;
  /** Resolves true once every seq ≤ `seq` was delivered, false after `timeoutMs` (or on close / lost history). */
  reached?(seq: number, timeoutMs: number): Promise<boolean>;
  close(): void;
}

/**
 * Idle heartbeat of the live consumer's pulls, ms: the server sends one
 * whenever it has had nothing to deliver for this long.
 */
export const LIVE_HEARTBEAT_MS = 1_000;
/**
 * No message and no heartbeat for this long → the source recreates its
 * consumer from the last delivered seq, and keeps retrying (every
 * `LIVE_HEARTBEAT_MS`) until one runs. The consumer is R1: its node may
 * have died, or the link may be a black hole TCP has not noticed. nats.js
 * alone (15 s heartbeats, then a consumer-info retry loop with a 30 s
 * backoff that waits for the consumer's node to come back, and no
 * monitoring at all after a reconnect whose recovery failed) left live feeds
 * silent for a whole node outage.
 */
export const LIVE_SILENCE_MS = 3 * LIVE_HEARTBEAT_MS;
/**
 * Each request of a consumer replacement (the stream's state, the delivered
 * tail's check, the consumer create) is given up after this long, ms, and the
 * replacement is tried again at the next watchdog tick. After a node dies
 * without a shutdown (SIGKILL, a lost machine), the meta leader counts it
 * active until its orphan timeout (5 × the 30 s server heartbeat;
 * nats-server 2.10 through 2.14) and places about a third of new R1
 * consumers on it; such a create is never answered, and the JetStream API's
 * 5 s timeout per lost draw kept live feeds silent for 20–50 s in the chaos
 * suite. A healthy create answers in milliseconds.
 */
export const LIVE_REQUEST_TIMEOUT_MS = 2_000;
/**
 * A live consumer create not answered within this long, ms, gets a second
 * create alongside (the first to answer is used): while a dead node still
 * counts as active, each create has about a one-in-three chance of being
 * placed there and never answered (see {@link LIVE_REQUEST_TIMEOUT_MS}).
 */
export const LIVE_CREATE_HEDGE_MS = 500;
/** Expiry of each pull request of the live consumer, ms (renewed continuously; bounds a lost pull). */
export const LIVE_PULL_EXPIRES_MS = 5_000;

/** Where the source reports consumer replacements (the gateway's logger). */
export interface LiveSourceLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A listener of every event the firehose delivers (see `FirehoseSource.tap`). */
export interface FirehoseTap {
  onMessage(message: LiveMessage): void;
  onReset(after: number): void;
}

/** A session's registration with the firehose. */
interface Handler {
  onMessage: (message: LiveMessage) => void;
  onLost?: (error: ThreadlineError) => void;
}

/** The last event the source delivered: its seq and stored bytes. */
interface Tail {
  seq: number;
  subject: string;
  data: Uint8Array;
}

/**
 * One JetStream **ordered consumer per gateway** over the whole stream (the
 * "firehose"), dispatched in-process to the sessions that have sockets here;
 * events of other sessions are dropped after a subject split, undecoded.
 *
 * Why this shape (measured in test/bench/RESULTS.md):
 * - Stream republish + a core subscription per session costs no consumer,
 *   but its `Nats-Last-Sequence` header is per *subject*, so a lost message
 *   is only noticed when its own subject publishes again — possibly after
 *   later events of the session were delivered, too late to repair in order.
 * - An ordered consumer per active session detects loss exactly, but on
 *   nats-server 2.9 every filtered consumer costs work per stored message:
 *   1000 of them saturated the server at 2000 events/s.
 * - The firehose keeps exact gap detection (the server numbers what it
 *   delivers to the consumer; the client library recreates it from the last
 *   stream seq on any gap or missed heartbeat) at the cost of one consumer
 *   per gateway, and every gateway reading all events. With nats-server 2.10+
 *   a consumer can filter on many subjects, so a gateway could narrow it to
 *   its active sessions; with very large traffic, shard sessions across
 *   streams (deploy/SCALING.md).
 *
 * Lost history: whenever the consumer is replaced (by the gateway or by
 * nats.js), the source first checks that the stream still stores the last
 * event it delivered, byte for byte, at its seq. A JetStream cluster can come
 * back from a whole-cluster outage without its newest writes (nats-server
 * 2.9 did so in the chaos suite); agents then store new events under the
 * seqs clients already saw. Continuing from the old seq would skip those
 * events silently and every client position would point at other events, so
 * instead every registration gets `onLost` (INSUFFICIENT_STATE: reload the
 * session) and the source restarts at the stream's current end
 * (PROTOCOL.md §8.4).
 */
export class FirehoseSource implements LiveSource {
  private readonly handlers = new Map<string, Handler>();
  /** Listeners of every session's events (the recent-events cache). */
  private readonly taps = new Set<FirehoseTap>();
  private lastSeq = 0;
  /**
   * The stream's end as the server last reported it with a delivery (the
   * message's seq + its consumer `pending`: messages stored after it and not
   * yet delivered); above `lastSeq` while the source lags the stream.
   */
  private reportedEnd = 0;
  /** `reached()` calls waiting for a seq. */
  private readonly reachWaiters = new Set<{ seq: number; done: (reached: boolean) => void }>();
  private tail: Tail | undefined;
  /** A delivered tail not yet confirmed after a consumer replacement (checked before and retried by the watchdog). */
  private unverified: Tail | undefined;
  /** Since when the stream has reported a last seq below `unverified.seq`, ms since the epoch. */
  private behindSince: number | undefined;
  /** A consumer replacement that failed (e.g. the stream was not answering yet after a reconnect): retried by the watchdog. */
  private pendingResync: "reconnect" | "heartbeats-missed" | undefined;
  private messages: ConsumerMessages | undefined;
  private starting: Promise<void> | undefined;
  private resyncing: Promise<void> | undefined;
  /** When the live consumer last showed life (a message or an idle heartbeat), ms since the epoch. */
  private lastActivity = 0;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly filter: string,
    private readonly history: SessionHistory,
    private readonly metrics?: Pick<GatewayMetrics, "liveResyncs" | "liveLag" | "liveDispatchErrors">,
    private readonly log?: LiveSourceLog,
  ) {}

  async open(
    session: string,
    onMessage: (message: LiveMessage) => void,
    onLost?: (error: ThreadlineError) => void,
  ): Promise<{ after: number; close(): void }> {
    await this.start();
    const handler = { onMessage, onLost };
    this.handlers.set(session, handler);
    return {
      // Synchronous with the registration: every event after this seq reaches `onMessage`.
      after: this.lastSeq,
      close: () => {
        if (this.handlers.get(session) === handler) this.handlers.delete(session);
      },
    };
  }

  /**
   * Every event of every session from now on (`RecentEventsFeed`): starts the
   * consumer if it is not running yet; the listener gets every event with seq
   * > `after`, and `onReset` when history was lost (the source restarts at
   * the stream's end). `suspect()` is true while that is being checked.
   */
  async tap(listener: FirehoseTap): Promise<{ after: number; suspect(): boolean }> {
    await this.start();
    this.taps.add(listener);
    return {
      after: this.lastSeq,
      // Replacing the consumer, or a delivered tail not yet confirmed: the stream may have lost what was delivered.
      suspect: () => this.resyncing !== undefined || this.unverified !== undefined,
    };
  }

  /** Starts the consumer at the stream's end, once; a start that failed is tried again by the next caller. */
  private start(): Promise<void> {
    this.starting ??= this.bounded(this.history.streamState(), "reading the stream's state")
      .then((state) => this.consumeFrom(state.lastSeq))
      .catch((error: unknown) => {
        this.starting = undefined;
        throw error;
      });
    return this.starting;
  }

  /** `request`, or a TIMEOUT error after {@link LIVE_REQUEST_TIMEOUT_MS} (see there). */
  private bounded<T>(request: Promise<T>, what: string): Promise<T> {
    return withDeadline(
      request,
      LIVE_REQUEST_TIMEOUT_MS,
      () =>
        new ThreadlineError(ErrorCode.TIMEOUT, `live source: ${what} got no answer in ${LIVE_REQUEST_TIMEOUT_MS} ms`),
    );
  }

  recover(): Promise<void> {
    return this.resync("reconnect");
  }

  backlog(): number | undefined {
    return this.reportedEnd > this.lastSeq ? this.reportedEnd : undefined;
  }

  reached(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.lastSeq >= seq) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        done: (reached: boolean) => {
          clearTimeout(timer);
          this.reachWaiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      this.reachWaiters.add(waiter);
    });
  }

  /** Resolves the `reached()` waiters whose seq has been delivered. */
  private settleReached(): void {
    for (const w of [...this.reachWaiters]) if (w.seq <= this.lastSeq) w.done(true);
  }

  /** Resolves every `reached()` waiter with false (closed, or history lost: those seqs will not come). */
  private failWaiters(): void {
    for (const w of [...this.reachWaiters]) w.done(false);
  }

  /**
   * Replaces the consumer with a new one from the last delivered seq; one
   * at a time (a call while one runs joins it). The old consumer is closed
   * once the new one runs; until then both may deliver, and the seq check
   * drops what was already dispatched. First checks the delivered tail
   * (lost history, see the class comment); `"verify"` only checks it (after
   * nats.js replaced the consumer by itself) and replaces nothing unless the
   * history was lost.
   */
  private resync(reason: "reconnect" | "heartbeats-missed" | "verify"): Promise<void> {
    if (!this.starting || this.closed) return Promise.resolve();
    this.resyncing ??= (async () => {
      const started = Date.now();
      try {
        await this.starting;
        const lost = await this.checkTail();
        if (!lost && reason === "verify") return;
        const old = this.messages;
        if (lost) this.historyLost(lost);
        await this.consumeFrom(this.lastSeq);
        const why = lost ? "history-lost" : reason;
        this.metrics?.liveResyncs.inc({ reason: why });
        this.log?.info({ reason: why, after: this.lastSeq, ms: Date.now() - started }, "live consumer replaced");
        this.pendingResync = undefined;
        void old?.close().catch(() => {});
      } catch (error) {
        if (reason !== "verify") this.pendingResync = reason;
        const what = reason === "verify" ? "delivered tail not confirmed yet" : "live consumer not replaced yet";
        this.log?.warn({ err: error, reason, ms: Date.now() - started }, `${what}; retrying`);
        throw error;
      } finally {
        this.resyncing = undefined;
      }
    })();
    return this.resyncing;
  }

  /**
   * Whether the stream lost the last delivered event (resolves to the
   * stream's current end and the error to hand out) or still holds it
   * (`undefined`). Throws while the stream reports less than was delivered
   * for under HISTORY_LOSS_GRACE_MS, and on read errors: the caller retries.
   */
  private async checkTail(): Promise<{ lastSeq: number; error: ThreadlineError } | undefined> {
    const tail = this.unverified ?? this.tail;
    if (!tail) return undefined;
    this.unverified = tail;
    const state = await this.bounded(this.history.streamState(), "reading the stream's state");
    let lost: string | undefined;
    if (tail.seq < state.firstSeq) {
      // Removed by retention since: nothing left to compare (and nothing to resume from either).
    } else if (tail.seq > state.lastSeq) {
      this.behindSince ??= Date.now();
      if (Date.now() - this.behindSince < HISTORY_LOSS_GRACE_MS) {
        throw new Error(`the stream's last seq ${state.lastSeq} is below the delivered seq ${tail.seq}; waiting`);
      }
      lost = `the stream's last seq is ${state.lastSeq}, it had delivered seq ${tail.seq}`;
    } else {
      const stored = await this.bounded(this.history.messageAt(tail.seq), `reading seq ${tail.seq}`);
      // A deleted message (none stored) is not a rewrite: seqs are never reused.
      if (stored && (stored.subject !== tail.subject || !sameBytes(stored.data, tail.data))) {
        lost = `the stream stores another event at seq ${tail.seq} than the one delivered`;
      }
    }
    if (this.unverified === tail) this.unverified = undefined;
    this.behindSince = undefined;
    if (!lost) return undefined;
    return {
      lastSeq: state.lastSeq,
      error: new ThreadlineError(
        ErrorCode.INSUFFICIENT_STATE,
        `the stream lost events it had delivered (${lost}); reload the session from the start`,
      ),
    };
  }

  /** Ends every registration with `error` and restarts the source at the stream's current end. */
  private historyLost(lost: { lastSeq: number; error: ThreadlineError }): void {
    const handlers = [...this.handlers.values()];
    this.handlers.clear();
    this.lastSeq = lost.lastSeq;
    this.reportedEnd = lost.lastSeq;
    this.failWaiters();
    this.tail = undefined;
    this.unverified = undefined;
    for (const t of this.taps) t.onReset(lost.lastSeq);
    for (const h of handlers) h.onLost?.(lost.error);
  }

  close(): void {
    this.closed = true;
    this.failWaiters();
    clearInterval(this.watchdog);
    void this.messages?.close().catch(() => {});
    this.handlers.clear();
    this.taps.clear();
  }

  /**
   * Creates the ordered consumer, hedged: a create not answered within
   * {@link LIVE_CREATE_HEDGE_MS} gets a second one alongside and the first to
   * answer is used (the other, if it answers later, is deleted). Each is
   * bounded by {@link LIVE_REQUEST_TIMEOUT_MS}; both failing throws the first's error.
   */
  private createConsumer(opts: Partial<OrderedConsumerOptions>): Promise<Consumer> {
    return hedged(() => this.bounded(this.js.consumers.get(this.stream, opts), "creating the live consumer"), {
      afterMs: LIVE_CREATE_HEDGE_MS,
      discard: (consumer) => consumer.delete(),
    });
  }

  private async consumeFrom(after: number): Promise<void> {
    if (this.lastSeq < after) this.lastSeq = after;
    const consumer = await this.createConsumer({
      filter_subjects: this.filter,
      ...(after === 0
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
    });
    this.messages = await consumer.consume({
      max_messages: 1024,
      idle_heartbeat: LIVE_HEARTBEAT_MS,
      expires: LIVE_PULL_EXPIRES_MS,
      callback: (m) => {
        this.lastActivity = Date.now();
        if (m.seq <= this.lastSeq) return;
        if (m.info.deliverySequence === 1 && this.tail && !this.unverified) {
          // A consumer's first message: if nats.js replaced the consumer by itself (after a gap or
          // missed heartbeats), the tail delivered before it has not been checked. Check it now; the
          // events after it are delivered meanwhile (they are the stream's, whatever it lost before).
          this.unverified = this.tail;
          this.resync("verify").catch(() => {});
        }
        this.lastSeq = m.seq;
        this.tail = { seq: m.seq, subject: m.subject, data: m.data };
        const end = m.seq + (m.info.pending ?? 0);
        if (end > this.reportedEnd) this.reportedEnd = end;
        for (const t of this.taps) this.tapMessage(t, m);
        const session = sessionOfSubject(m.subject);
        const handler = this.handlers.get(session);
        if (handler) this.dispatch(session, handler, { seq: m.seq, subject: m.subject, data: m.data });
        if (this.reachWaiters.size > 0) this.settleReached();
        // After the dispatch, so the lag includes handing the event to this gateway's sockets. A host
        // clock behind the stream leader's would make it negative: counted as 0.
        this.metrics?.liveLag.observe(Math.max(0, Date.now() - m.info.timestampNanos / 1e6) / 1000);
      },
    });
    const messages = this.messages;
    this.lastActivity = Date.now();
    if (!this.watchdog) {
      this.watchdog = setInterval(() => this.checkLiveness(), LIVE_HEARTBEAT_MS);
      this.watchdog.unref?.();
    }
    void (async () => {
      for await (const status of messages.status()) {
        if (status.type === "heartbeat" && this.messages === messages) {
          this.lastActivity = Date.now();
        } else if (status.type === "ordered_consumer_recreated") {
          this.metrics?.liveResyncs.inc({ reason: "consumer-recreated" });
          this.log?.info({ reason: "consumer-recreated", after: this.lastSeq }, "live consumer replaced by nats.js");
        }
      }
    })().catch(() => {});
  }

  /**
   * Hands an event to a session's handler. Listeners run inside the
   * consumer's callback, and nats.js stops a consumer whose callback throws:
   * every session's live feed would stall until the watchdog replaced the
   * consumer, and again at the next such event. So a handler that throws is
   * taken off instead, explicitly: its registration is dropped and ended
   * with `onLost(UNAVAILABLE)` (the session feed ends its attachments with a
   * retryable error; clients attach again from their last seq and catch up
   * from the stream, so nothing is lost).
   */
  private dispatch(session: string, handler: Handler, message: LiveMessage): void {
    try {
      handler.onMessage(message);
    } catch (error) {
      if (this.handlers.get(session) === handler) this.handlers.delete(session);
      this.listenerFailed("session", error, { session, seq: message.seq }, "ending the session's feed");
      const ended = new ThreadlineError(
        ErrorCode.UNAVAILABLE,
        `this gateway failed to deliver the session's event at seq ${message.seq}; attach again`,
        { session },
      );
      try {
        handler.onLost?.(ended);
      } catch (lostError) {
        this.listenerFailed("session", lostError, { session, seq: message.seq }, "and so did ending the feed");
      }
    }
  }

  /** Hands an event to a tap; one that throws is reset at this event instead (see `dispatch`): the recent-events cache starts over empty. */
  private tapMessage(tap: FirehoseTap, message: LiveMessage): void {
    try {
      tap.onMessage(message);
    } catch (error) {
      this.listenerFailed("tap", error, { seq: message.seq }, "resetting the recent-events cache");
      try {
        tap.onReset(message.seq);
      } catch (resetError) {
        this.listenerFailed("tap", resetError, { seq: message.seq }, "and so did resetting the cache");
      }
    }
  }

  private listenerFailed(listener: "session" | "tap", error: unknown, fields: object, outcome: string): void {
    this.metrics?.liveDispatchErrors.inc({ listener });
    this.log?.error({ ...fields, err: error, listener }, `live event handling failed; ${outcome}`);
  }

  /**
   * Resyncs a consumer silent for `LIVE_SILENCE_MS`, and re-checks a tail
   * not yet confirmed; runs every heartbeat, so a failed resync is retried.
   */
  private checkLiveness(): void {
    if (this.closed || this.resyncing) return;
    if (Date.now() - this.lastActivity > LIVE_SILENCE_MS) this.resync("heartbeats-missed").catch(() => {});
    else if (this.pendingResync) this.resync(this.pendingResync).catch(() => {});
    else if (this.unverified) this.resync("verify").catch(() => {});
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
