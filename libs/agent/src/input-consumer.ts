import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ErrorCode, JsErrCode, jsApiErrorCode, natsError, ThreadlineError } from "./errors.ts";
import { decodeRecord, type SubjectRecord } from "./record-decoder.ts";
import type { ThreadlineStreamInfo } from "./stream-provisioner.ts";

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
 * re-issues pulls after a reconnect); if the durable disappears (deleted,
 * or the stream was recreated) it is created again.
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
  const consumer = await js.consumers.get(info.stream, o.durable).catch((error: unknown) => {
    throw natsError(`opening input consumer ${o.durable}`, error);
  });
  // Prefetch no more than we can start at once: buffered events age towards ackWait without a working() signal.
  const messages = await consumer.consume({ max_messages: o.concurrency });

  let stopping = false;
  const running = new Set<Promise<void>>();

  const handle = async (m: JsMsg): Promise<void> => {
    const record = decodeRecord(info.subjects, m.subject, m.seq, m.data);
    if (typeof record === "string") {
      quietly(() => m.term(record));
      o.onError(new ThreadlineError(ErrorCode.INVALID_FRAME, `input seq ${m.seq} on ${m.subject} dropped: ${record}`));
      return;
    }
    const heartbeat = setInterval(() => quietly(() => m.working()), Math.max(50, Math.floor(o.ackWaitMs / 2)));
    try {
      await handler(record);
    } catch (error) {
      clearInterval(heartbeat);
      const delay = Math.min(o.nakDelayMs * 2 ** Math.max(0, m.info.deliveryCount - 1), MAX_NAK_DELAY_MS);
      quietly(() => m.nak(delay));
      o.onError(error, record);
      return;
    }
    clearInterval(heartbeat);
    try {
      await m.ackAck();
    } catch (error) {
      o.onError(natsError(`acknowledging input ${record.event.id}`, error, record.session), record);
    }
  };

  const loop = async (): Promise<void> => {
    for await (const m of messages) {
      while (running.size >= o.concurrency) await Promise.race(running);
      if (stopping) {
        quietly(() => m.nak()); // buffered but not started: let another worker have it now
        continue;
      }
      const task = handle(m).finally(() => running.delete(task));
      running.add(task);
    }
  };

  let recreating = false;
  const watchStatus = async (): Promise<void> => {
    for await (const status of messages.status()) {
      if (stopping || recreating) continue;
      if (status.type === "consumer_deleted" || status.type === "consumer_not_found") {
        recreating = true;
        // The consume loop keeps pulling by name; once the durable exists again it is served.
        ensureDurable(jsm, info.stream, config)
          .catch((error: unknown) => o.onError(error))
          .finally(() => {
            recreating = false;
          });
      }
    }
  };
  void watchStatus().catch(() => {
    // status iteration ends with the consumer
  });

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
      await messages.close();
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

/**
 * Creates the durable or brings its mutable settings (ack wait, max ack
 * pending, max deliver, filter) in line. Safe when several workers start at
 * once: a create that loses the race re-reads and updates.
 */
async function ensureDurable(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig>): Promise<void> {
  const name = config.durable_name as string;
  const what = `creating input consumer ${name}`;
  for (let round = 0; round < 3; round++) {
    let existing: ConsumerInfo | undefined;
    try {
      existing = await jsm.consumers.info(stream, name);
    } catch (error) {
      if (jsApiErrorCode(error) !== JsErrCode.CONSUMER_NOT_FOUND) throw natsError(what, error);
    }
    if (!existing) {
      try {
        await jsm.consumers.add(stream, config);
        return;
      } catch (error) {
        if (round === 2) throw natsError(what, error);
        continue; // probably created concurrently with other settings: read it and update
      }
    }
    const have = existing.config;
    if (have.deliver_subject) {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, `consumer ${name} exists and is a push consumer`, {
        retryable: false,
      });
    }
    const changes: Partial<ConsumerConfig> = {};
    for (const key of ["ack_wait", "max_ack_pending", "max_deliver", "filter_subject"] as const) {
      if (have[key] !== config[key]) (changes as Record<string, unknown>)[key] = config[key];
    }
    if (Object.keys(changes).length === 0) return;
    try {
      await jsm.consumers.update(stream, name, changes);
      return;
    } catch (error) {
      throw natsError(`updating input consumer ${name}`, error);
    }
  }
}
