import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import {
  ensureDurable,
  RetryPolicy,
  redeliveryDelay,
  retryDelay,
  type StoredMessage,
  sleep,
  watchConsumerLoss,
} from "@threadline/store";
import type { pino } from "pino";
import type { NotifierMetrics } from "./metrics.ts";
import type { Disposition } from "./trigger-handler.ts";

export interface TriggerConsumerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** Durable name, shared by every replica (they split the messages between them). */
  durable: string;
  /** One subject filter (nats-server 2.9). */
  filter: string;
  ackWaitMs: number;
  maxAckPending: number;
  /** Messages handled at once in this process (also the prefetch). */
  concurrency: number;
  /**
   * How long `stop()` waits for the handlings under way; then it returns and
   * logs the ones still running (their triggers are redelivered after the ack
   * wait, their claims taken over after the lease — as after a crash).
   */
  drainMs: number;
  /**
   * Handles one delivery; `first` = its first delivery; `signal` fires at
   * shutdown; `step` names what it is doing now (reported when a shutdown
   * gives up on it). Throwing redelivers it with backoff.
   */
  handle: (
    message: StoredMessage,
    first: boolean,
    signal: AbortSignal,
    step: (name: string) => void,
  ) => Promise<Disposition>;
  metrics: NotifierMetrics;
  log: pino.Logger;
}

export interface TriggerConsumer {
  /**
   * Stops pulling, returns unstarted messages (nak), ends retry waits, waits
   * for running handlings — at most `drainMs`. Idempotent.
   */
  stop(): Promise<void>;
  /** Whether it is pulling (false after `stop()` or while it re-opens the consumer). */
  readonly consuming: boolean;
}

/** Redelivery after a handling failed: 1 s doubling per delivery up to a minute. */
const FAILURE_NAK_MS = 1000;
const MAX_FAILURE_NAK_MS = 60_000;

/**
 * A durable pull consumer of triggers (explicit ack; a durable created
 * now starts with new messages — DeliverPolicy `new` — an existing one
 * resumes). Each message is handed to `handle`; while it runs the server is
 * told it is in progress every `ackWaitMs / 3`; its disposition acks it or
 * naks it with a delay (not yet due, deferred, held elsewhere). The client
 * library re-pulls after NATS reconnects; a deleted durable is created again
 * (from new messages: what arrived in between is not seen).
 */
export async function startTriggerConsumer(o: TriggerConsumerOptions): Promise<TriggerConsumer> {
  const config = {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(o.ackWaitMs),
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
    filter_subject: o.filter,
    deliver_policy: DeliverPolicy.New,
  };
  await ensureDurable(o.jsm, o.stream, config);
  const stopping = new AbortController();
  /** Handlings under way: each one's message, start and current step, for the shutdown report. */
  const running = new Map<Promise<void>, Running>();
  let current: ConsumerMessages | undefined;
  let consuming = false;
  /** `stop()` stopped waiting for the handlings still running. */
  let abandoned = false;

  const run = async (m: JsMsg, state: Running): Promise<void> => {
    o.metrics.inFlight.inc();
    // In-progress acks keep the delivery ours; once `stop()` gave up on it they end, so it is redelivered.
    const heartbeat = setInterval(
      () => (abandoned ? clearInterval(heartbeat) : quietly(() => m.working())),
      Math.max(100, Math.floor(o.ackWaitMs / 3)),
    );
    try {
      const message = {
        seq: m.seq,
        subject: m.subject,
        data: m.data,
        storedAt: Math.floor(m.info.timestampNanos / 1e6),
      };
      const disposition = await o.handle(message, m.info.deliveryCount === 1, stopping.signal, (name) => {
        state.step = name;
      });
      if (disposition.action === "ack") quietly(() => m.ack());
      else quietly(() => m.nak(disposition.delayMs));
    } catch (error) {
      o.log.warn({ err: error, seq: m.seq, subject: m.subject }, "trigger handling failed; redelivered later");
      quietly(() => m.nak(redeliveryDelay(m.info.deliveryCount, FAILURE_NAK_MS, MAX_FAILURE_NAK_MS)));
    } finally {
      clearInterval(heartbeat);
      o.metrics.inFlight.dec();
    }
  };

  /** One consume() session; resolves true when the durable was lost and must be created again. */
  const consumeOnce = async (): Promise<boolean> => {
    const consumer = await o.js.consumers.get(o.stream, o.durable);
    const messages = await consumer.consume({ max_messages: o.concurrency });
    current = messages;
    // Stopped while opening: end the iteration below. Not awaited — close() resolves once the loop below has
    // read up to the end, so awaiting it here, before the loop runs, would never return.
    if (stopping.signal.aborted) void messages.close();
    const session = watchConsumerLoss(messages);
    consuming = true;
    try {
      for await (const m of messages) {
        while (running.size >= o.concurrency) await Promise.race(running.keys());
        if (session.lost) continue;
        if (stopping.signal.aborted) {
          quietly(() => m.nak()); // buffered, not started: another replica may take it now
          continue;
        }
        const state: Running = { m, since: Date.now(), step: "start" };
        const task = run(m, state).finally(() => running.delete(task));
        running.set(task, state);
      }
    } finally {
      consuming = false;
    }
    return session.lost && !stopping.signal.aborted;
  };

  const loop = async (): Promise<void> => {
    for (let failures = 0; !stopping.signal.aborted; ) {
      try {
        if (!(await consumeOnce())) return;
        await ensureDurable(o.jsm, o.stream, config);
        failures = 0;
      } catch (error) {
        failures++;
        o.log.warn({ err: error, durable: o.durable }, "trigger consumer failed; opening it again");
        await sleep(retryDelay(failures, RetryPolicy.consumer), stopping.signal);
      }
    }
  };
  const closed = loop().then(() => Promise.allSettled(running.keys()).then(() => {}));

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        const drained = (async () => {
          await current?.close().catch(() => {});
          await closed;
        })();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<"late">((resolve) => {
          timer = setTimeout(resolve, o.drainMs, "late");
        });
        const outcome = await Promise.race([drained.then(() => "drained" as const), late]);
        clearTimeout(timer);
        if (outcome === "late") {
          abandoned = true;
          o.log.warn(
            { durable: o.durable, drainMs: o.drainMs, handlings: [...running.values()].map(describe) },
            "stopped with handlings still running (left to redelivery after the ack wait, their claims to the lease)",
          );
        }
      })();
      return stopped;
    },
    get consuming() {
      return consuming;
    },
  };
}

/** A handling under way. */
interface Running {
  m: JsMsg;
  since: number;
  step: string;
}

/** A handling still running at shutdown, for the log. */
function describe({ m, since, step }: Running) {
  return { seq: m.seq, subject: m.subject, deliveryCount: m.info.deliveryCount, runningMs: Date.now() - since, step };
}

/** Acks are publishes; on a closed connection they throw, and the server redelivers anyway. */
function quietly(ack: () => void): void {
  try {
    ack();
  } catch {
    // redelivered after ack_wait
  }
}
