import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import {
  decodeRecord,
  ensureDurable,
  JsErrCode,
  jsApiErrorCode,
  natsError,
  RetryPolicy,
  redeliveryDelay,
  retryDelay,
  type SubjectRecord,
  type ThreadlineStreamInfo,
  watchConsumerLoss,
} from "@threadline/store";

/** Handles one input event. Resolve → the event is acknowledged; throw → it is redelivered later. */
export type InputHandler = (record: SubjectRecord) => Promise<void>;

export interface ConsumeInputOptions {
  /**
   * Name of the durable consumer, shared by every worker of one agent pool:
   * workers with the same name split the input between them; another name
   * receives all input again. Characters `[A-Za-z0-9_-]`.
   */
  durable: string;
  /** Time the server waits for an ack before redelivering; extended while the handler runs. Default 30000. */
  ackWaitMs?: number;
  /** Input events delivered and not yet acknowledged, across all workers of the durable. Default 1000. */
  maxAckPending?: number;
  /** Handlers running at once in this process. Default 1. */
  concurrency?: number;
  /** Deliveries of one event before the server gives up on it; -1 = unlimited. Default -1. */
  maxDeliver?: number;
  /** Redelivery delay after the handler threw, doubled per delivery up to 60 s. Default 1000. */
  nakDelayMs?: number;
  /**
   * Where a durable that does not exist yet starts: `"new"` (input stored
   * from now on — a new agent does not answer a month of old input) or
   * `"all"` (every stored input). An existing durable resumes where it was.
   * Default `"new"`.
   */
  startAt?: "new" | "all";
  /**
   * Reports handler failures (the event is redelivered), malformed input
   * (terminated, not redelivered), failed acks (the event may be delivered
   * again) and consumer failures. Default: `console.error`.
   */
  onError?: (error: unknown, record?: SubjectRecord) => void;
}

export interface InputConsumer extends AsyncDisposable {
  /**
   * Stops fetching, returns unstarted buffered events to the server (nak),
   * waits for running handlers to finish and for their acks. Idempotent.
   */
  stop(): Promise<void>;
  /** Settles when the consumer ended: after `stop()`, when the connection closed, or on an unrecoverable error. */
  readonly closed: Promise<void>;
}

const DURABLE = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_NAK_DELAY_MS = 60_000;

/**
 * The first slice of the agent worker pool: one durable pull consumer on
 * `<prefix>.*.in.>` (all turn-starting input of all sessions). Each event is
 * handed to `handler`; while it runs the server is told it is in progress
 * every `ackWaitMs / 2`; when it resolves the event is acknowledged (and the
 * ack confirmed), when it throws the event is nak'ed with a growing delay.
 * Delivery is at-least-once: a handler must tolerate seeing an event again
 * (after a crash or a lost ack); `record.event.id` identifies it.
 *
 * NATS reconnects are survived by the client library's consume loop (it
 * re-issues pulls after a reconnect). If the durable disappears (deleted by
 * an operator, or the stream was recreated) it is created again at once,
 * starting from the oldest event this worker had not acknowledged (so
 * nothing is skipped; events may be delivered again), or from the start of
 * a recreated stream.
 */
export async function consumeInput(
  js: JetStreamClient,
  jsm: JetStreamManager,
  info: ThreadlineStreamInfo,
  handler: InputHandler,
  options: ConsumeInputOptions,
): Promise<InputConsumer> {
  const o = resolveOptions(options);
  const config: Partial<ConsumerConfig> = {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(o.ackWaitMs),
    max_ack_pending: o.maxAckPending,
    max_deliver: o.maxDeliver,
    filter_subject: info.subjects.allInput(),
    deliver_policy: o.startAt === "all" ? DeliverPolicy.All : DeliverPolicy.New,
  };
  await ensureDurable(jsm, info.stream, config);
  const position = new RedeliveryFloor(o.maxAckPending);
  let stopping = false;
  let current: ConsumerMessages | undefined;
  let wakeUp: (() => void) | undefined;
  const running = new Set<Promise<void>>();

  const handle = async (m: JsMsg): Promise<void> => {
    const record = decodeRecord(info.subjects, m.subject, m.seq, m.data);
    if (typeof record === "string") {
      // No reason argument: nats-server 2.9 ignores "+TERM <reason>" (2.10+ accepts it), which would
      // leave the event pending and redeliver it forever. The reason goes to onError instead.
      quietly(() => m.term());
      position.resolved(m.seq);
      o.onError(new ThreadlineError(ErrorCode.INVALID_FRAME, `input seq ${m.seq} on ${m.subject} dropped: ${record}`));
      return;
    }
    const heartbeat = setInterval(() => quietly(() => m.working()), Math.max(50, Math.floor(o.ackWaitMs / 2)));
    try {
      await handler(record);
    } catch (error) {
      clearInterval(heartbeat);
      const delay = redeliveryDelay(m.info.deliveryCount, o.nakDelayMs, MAX_NAK_DELAY_MS);
      quietly(() => m.nak(delay));
      o.onError(error, record);
      return;
    }
    clearInterval(heartbeat);
    try {
      await m.ackAck();
      position.resolved(m.seq);
    } catch (error) {
      o.onError(natsError(`acknowledging input ${record.event.id}`, error, record.session), record);
    }
  };

  const open = () => js.consumers.get(info.stream, o.durable);
  let opened: Consumer | undefined = await open().catch((error: unknown) => {
    throw natsError(`opening input consumer ${o.durable}`, error);
  });

  /** One consume() session; returns true when the durable was lost and must be recreated. */
  const consumeOnce = async (): Promise<boolean> => {
    let consumer: Consumer;
    try {
      consumer = opened ?? (await open());
    } catch (error) {
      if (jsApiErrorCode(error) === JsErrCode.CONSUMER_NOT_FOUND) return !stopping; // deleted again meanwhile
      throw error;
    }
    opened = undefined;
    // Prefetch no more than we can start at once: buffered events age towards ackWait without a working() signal.
    const messages = await consumer.consume({ max_messages: o.concurrency });
    current = messages;
    if (stopping) await messages.close();
    const session = watchConsumerLoss(messages);
    for await (const m of messages) {
      while (running.size >= o.concurrency) await Promise.race(running);
      if (session.lost) continue; // acks to a deleted consumer go nowhere; the recreated one delivers it again
      if (stopping) {
        quietly(() => m.nak()); // buffered but not started: let another worker have it now
        continue;
      }
      position.started(m.seq);
      const task = handle(m).finally(() => running.delete(task));
      running.add(task);
    }
    return session.lost && !stopping;
  };

  const recreate = async (): Promise<void> => {
    for (let attempt = 0; !stopping; attempt++) {
      try {
        const state = (await jsm.streams.info(info.stream)).state;
        const from = position.floor();
        // Resume from the oldest event not yet acknowledged; a stream that restarted its seqs was recreated.
        const start =
          from > 0 && from <= state.last_seq + 1
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }
            : from > 0
              ? { deliver_policy: DeliverPolicy.All }
              : {};
        await ensureDurable(jsm, info.stream, { ...config, ...start });
        return;
      } catch (error) {
        o.onError(natsError(`recreating input consumer ${o.durable}`, error));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryDelay(attempt + 1, RetryPolicy.consumer));
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopping && (await consumeOnce())) await recreate();
  };

  const closed = loop()
    .catch((error: unknown) => o.onError(natsError(`input consumer ${o.durable} failed`, error)))
    .then(async () => {
      stopping = true;
      await Promise.allSettled(running);
    });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      wakeUp?.();
      await current?.close();
      await closed;
    })();
    return stopped;
  };
  return { stop, closed, [Symbol.asyncDispose]: stop };
}

function resolveOptions(options: ConsumeInputOptions): Required<ConsumeInputOptions> {
  if (typeof options?.durable !== "string" || !DURABLE.test(options.durable)) {
    throw new TypeError(`durable must be 1-64 characters of [A-Za-z0-9_-], got ${JSON.stringify(options?.durable)}`);
  }
  const o: Required<ConsumeInputOptions> = {
    durable: options.durable,
    ackWaitMs: options.ackWaitMs ?? 30_000,
    maxAckPending: options.maxAckPending ?? 1000,
    concurrency: options.concurrency ?? 1,
    maxDeliver: options.maxDeliver ?? -1,
    nakDelayMs: options.nakDelayMs ?? 1000,
    startAt: options.startAt ?? "new",
    onError: safe(options.onError ?? ((error, record) => console.error("threadline input consumer:", error, record))),
  };
  positiveInteger("ackWaitMs", o.ackWaitMs, 100);
  positiveInteger("maxAckPending", o.maxAckPending, 1);
  positiveInteger("concurrency", o.concurrency, 1);
  positiveInteger("nakDelayMs", o.nakDelayMs, 0);
  if (o.maxDeliver !== -1) positiveInteger("maxDeliver", o.maxDeliver, 1);
  if (o.concurrency > o.maxAckPending) throw new RangeError("concurrency must not exceed maxAckPending");
  if (o.startAt !== "new" && o.startAt !== "all") throw new TypeError(`startAt must be "new" or "all"`);
  return o;
}

/**
 * Where a recreated durable must start so that no input is skipped: the
 * oldest seq this worker started and did not acknowledge (running, nak'ed
 * for redelivery, or with a failed ack), else the seq after the newest it
 * started. Tracks at most `limit` unacknowledged seqs — the server never
 * has more than max_ack_pending outstanding; beyond that the oldest is
 * forgotten (it can then only be skipped if its ack really was lost).
 */
class RedeliveryFloor {
  private readonly unacked = new Set<number>();
  private newest = 0;

  constructor(private readonly limit: number) {}

  started(seq: number): void {
    this.newest = Math.max(this.newest, seq);
    this.unacked.add(seq);
    if (this.unacked.size > this.limit) this.unacked.delete(Math.min(...this.unacked));
  }

  resolved(seq: number): void {
    this.unacked.delete(seq);
  }

  /** 0 when nothing was started yet (keep the configured start). */
  floor(): number {
    if (this.unacked.size > 0) return Math.min(...this.unacked);
    return this.newest === 0 ? 0 : this.newest + 1;
  }
}

/** A user callback must not break the consume loop by throwing. */
function safe(onError: (error: unknown, record?: SubjectRecord) => void): typeof onError {
  return (error, record) => {
    try {
      onError(error, record);
    } catch {
      // ignored: reporting must not fail the consumer
    }
  };
}

/** Acks are publishes; on a closed connection they throw, and the server redelivers anyway. */
function quietly(ack: () => void): void {
  try {
    ack();
  } catch {
    // the event is redelivered after ack_wait
  }
}

function positiveInteger(name: string, value: unknown, min: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}
