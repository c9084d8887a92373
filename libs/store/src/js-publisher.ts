import {
  ClosedConnectionError,
  createInbox,
  type Msg,
  type NatsConnection,
  NoRespondersError,
  PermissionViolationError,
  type Subscription,
  TimeoutError,
} from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { type PubAck, parsePubAck } from "./pub-ack.ts";
import { type PublishHeaderValues, publishHeaders } from "./publish-headers.ts";

export type { PubAck } from "./pub-ack.ts";

/** The JetStream publish headers Threadline's writers use, and the ack timeout. */
export interface JsPublishOptions extends PublishHeaderValues {
  /** Milliseconds to wait for the ack; then the publish rejects with nats.js's `TimeoutError`. */
  timeoutMs?: number;
}

/** Anything that stores a message in JetStream and resolves to its ack — `JsPublisher`, or a fake in unit tests. */
export interface StreamPublisher {
  publish(subject: string, payload: Uint8Array, options?: JsPublishOptions): Promise<PubAck>;
}

export interface JsPublisherOptions {
  /** Default ack timeout (ms) for publishes that do not give one. Default 5000. */
  timeoutMs?: number;
  /** Publishes awaiting their ack at most; one more is refused with `TOO_MANY_PENDING`. Default 65,536. */
  maxPending?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_PENDING = 65_536;
/** Deadlines this close are expired together, so a burst of timeouts costs one timer, not one each. */
const SWEEP_SLACK_MS = 2;

interface Pending {
  readonly token: number;
  readonly subject: string;
  readonly deadline: number;
  readonly queue: DeadlineQueue;
  resolve(ack: PubAck): void;
  reject(error: unknown): void;
}

/** Pendings with one timeout, in publish order: their deadlines only grow, so the head expires first. */
type DeadlineQueue = Map<number, Pending>;

/**
 * Publishes to JetStream like `js.publish()`, at a fraction of its cost per
 * message. nats.js's `request()` (under `js.publish()`) builds three `Error`
 * objects and a timer per publish, which made up a fifth of an agent's CPU
 * (test/bench/RESULTS.md, "Measured causes" 6). Here:
 *
 * - one reply subscription per publisher (`<inbox>.*`), a numeric token per
 *   publish as the reply subject's last token;
 * - one shared deadline timer: publishes with the same timeout expire in
 *   publish order, so the timer is armed for the oldest one only;
 * - no `Error` object unless a publish fails; socket writes stay batched per
 *   microtask by nats.js's outbound buffer (many publishes, one write).
 *
 * Failures are the errors `js.publish()` rejects with, so callers classify them
 * with nats-errors.ts as before: `TimeoutError` (no ack in time; the message
 * may still have been stored — retry with the same `msgId`),
 * `NoRespondersError` (no stream listens on the subject, or JetStream is
 * away), `JetStreamApiError` (the stream refused it: `code` 10071 wrong last
 * sequence, 10060 expected stream mismatch, 10054 too large, 503 status
 * unavailable), `PermissionViolationError` (the connection may not publish
 * on the subject), `ClosedConnectionError` (the connection or this publisher
 * was closed; pending publishes are rejected with it at once). A publish
 * beyond `maxPending` is refused with `ThreadlineError(TOO_MANY_PENDING)`.
 *
 * Order: messages go to the server in call order (one connection), but a
 * timed-out publish retried later is not ordered against later ones; callers
 * that need per-session order keep one publish in flight per session
 * (the agent's PublishQueue does).
 * @example
 *   const publisher = new JsPublisher(nc);
 *   const { seq, duplicate } = await publisher.publish("tl.s1.out.agent.bot", bytes, { msgId: "s1/e1" });
 */
export class JsPublisher implements StreamPublisher {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly pending = new Map<number, Pending>();
  /** One queue per distinct timeout (usually one); see DeadlineQueue. */
  private readonly queues = new Map<number, DeadlineQueue>();
  private nextToken = 1;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;
  /** nats.js status events, followed for publish permission errors; stopped on close. */
  private readonly statuses: ReturnType<NatsConnection["status"]>;

  constructor(
    private readonly nc: NatsConnection,
    options: JsPublisherOptions = {},
  ) {
    this.timeoutMs = positive("timeoutMs", options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.maxPending = positive("maxPending", options.maxPending ?? DEFAULT_MAX_PENDING);
    this.inbox = `${createInbox(inboxPrefix(nc))}.`;
    this.sub = nc.subscribe(`${this.inbox}*`, { callback: (error, msg) => this.onReply(error, msg) });
    this.statuses = nc.status();
    void nc.closed().then(() => this.close());
    this.followErrors().catch(() => {}); // the status iterator ends with the connection; nothing to report
  }

  /** Publishes awaiting their ack. */
  get size(): number {
    return this.pending.size;
  }

  publish(subject: string, payload: Uint8Array, options: JsPublishOptions = {}): Promise<PubAck> {
    if (this.closed) return Promise.reject(new ClosedConnectionError());
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(
        new ThreadlineError(
          ErrorCode.TOO_MANY_PENDING,
          `${this.pending.size} JetStream publishes await their ack; wait for earlier publishes before sending more`,
        ),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    if (!isPositiveInteger(timeoutMs)) return Promise.reject(notPositive("timeoutMs", timeoutMs));
    const token = this.nextToken++;
    try {
      const hdrs = publishHeaders(options);
      this.nc.publish(subject, payload, { reply: `${this.inbox}${token}`, ...(hdrs ? { headers: hdrs } : {}) });
    } catch (error) {
      // Closed or draining connection, invalid subject or header value, payload over max_payload: nothing was sent.
      return Promise.reject(error);
    }
    let queue = this.queues.get(timeoutMs);
    if (!queue) {
      queue = new Map();
      this.queues.set(timeoutMs, queue);
    }
    const deadline = performance.now() + timeoutMs;
    return new Promise<PubAck>((resolve, reject) => {
      const entry: Pending = { token, subject, deadline, queue, resolve, reject };
      this.pending.set(token, entry);
      queue.set(token, entry);
      if (deadline < this.timerAt) this.arm(deadline);
    });
  }

  /**
   * Stops the publisher: its reply subscription is removed and every pending
   * publish rejects with `ClosedConnectionError` (it may still be stored —
   * retry with the same `msgId` elsewhere). Later publishes reject the same way.
   * Also happens by itself when the connection closes.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.sub.isClosed()) this.sub.unsubscribe();
    (this.statuses as { stop?: () => void }).stop?.();
    this.failAll(() => new ClosedConnectionError());
  }

  private onReply(error: Error | null, msg: Msg): void {
    if (error) {
      // The reply subscription itself failed (e.g. not permitted): no ack can arrive any more.
      this.failAll(() => error);
      return;
    }
    const token = Number(msg.subject.slice(this.inbox.length));
    const entry = this.pending.get(token);
    if (!entry) return; // the publish already timed out or the publisher closed: a late ack
    this.settle(entry);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      entry.reject(new NoRespondersError(entry.subject));
      return;
    }
    let ack: PubAck;
    try {
      ack = parsePubAck(msg.data);
    } catch (failure) {
      entry.reject(failure);
      return;
    }
    entry.resolve(ack);
  }

  private settle(entry: Pending): void {
    this.pending.delete(entry.token);
    entry.queue.delete(entry.token);
  }

  private arm(at: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()));
  }

  /** Expires every publish whose deadline passed, then arms the timer for the next deadline (if any). */
  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now() + SWEEP_SLACK_MS;
    let next = Number.POSITIVE_INFINITY;
    for (const [timeoutMs, queue] of this.queues) {
      for (const entry of queue.values()) {
        if (entry.deadline > now) {
          next = Math.min(next, entry.deadline);
          break;
        }
        this.settle(entry);
        entry.reject(new TimeoutError());
      }
      if (queue.size === 0) this.queues.delete(timeoutMs);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  private failAll(error: () => unknown): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    this.queues.clear();
    for (const entry of entries) entry.reject(error());
  }

  /**
   * The server answers a publish it does not permit with an `-ERR` that nats.js
   * reports as a status, not to the publish: reject the oldest pending publish
   * on that subject at once (as `js.publish()` does) instead of letting it time out.
   */
  private async followErrors(): Promise<void> {
    for await (const status of this.statuses) {
      if (this.closed) return;
      if (status.type !== "error" || !(status.error instanceof PermissionViolationError)) continue;
      const denied = status.error;
      if (denied.operation !== "publish") continue;
      for (const entry of this.pending.values()) {
        if (entry.subject !== denied.subject) continue;
        this.settle(entry);
        entry.reject(denied);
        break;
      }
    }
  }
}

/** The connection's `inboxPrefix` option (not on the public `NatsConnection` type), so NATS permissions written for it hold. */
function inboxPrefix(nc: NatsConnection): string | undefined {
  return (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
}

function isPositiveInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1;
}

function notPositive(name: string, value: number): RangeError {
  return new RangeError(`${name} must be a positive integer, got ${value}`);
}

function positive(name: string, value: number): number {
  if (!isPositiveInteger(value)) throw notPositive(name, value);
  return value;
}
