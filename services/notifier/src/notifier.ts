import type { Agent as HttpsAgent } from "node:https";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ConfigError,
  ControlState,
  createHistoryReader,
  DeadLetters,
  lookupThreadline,
  NotificationClaims,
  NotificationMarks,
  NotificationPreferences,
  NotificationRate,
  PresenceBucket,
  PushSubscriptions,
  provisionThreadline,
} from "@threadline/store";
import { pino } from "pino";
import { AudienceCache } from "./audience.ts";
import type { NotifierConfig } from "./config.ts";
import type { Reservation } from "./delivery.ts";
import { type HealthServer, startHealthServer } from "./http.ts";
import { createNotifierMetrics, type NotifierMetrics } from "./metrics.ts";
import type { NotificationPayload } from "./payload.ts";
import { startTriggerConsumer, type TriggerConsumer } from "./trigger-consumer.ts";
import { createTriggerHandler, type Outcome } from "./trigger-handler.ts";
import { WebPushChannel } from "./web-push.ts";

export interface NotifierDeps {
  /** A connected NATS client; the notifier does not close it. */
  nc: NatsConnection;
  logger?: pino.Logger;
  /** TLS agent for push services (tests: trust the test kit's push service in-process). */
  pushAgent?: HttpsAgent;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

export interface Notifier extends AsyncDisposable {
  readonly metrics: NotifierMetrics;
  /** Port of /healthz and /metrics (undefined when disabled). */
  readonly httpPort: number | undefined;
  /**
   * Every decision as it is made (sent, collapsed, covered, deferred, skipped, held), per trigger
   * and user. Returns the unsubscribe function.
   * @example notifier.onOutcome((o) => o.outcome === "sent" && console.log(o.session, o.user, o.count));
   */
  onOutcome(listener: (outcome: Outcome) => void): () => void;
  /** Stops pulling, ends retry waits, finishes the handlings under way (≤ `drainMs`); closes the HTTP server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Composition root of the notifier: follows the triggers of every session
 * through two durable consumers (`<durable>-out` on `<prefix>.*.out.>`,
 * `<durable>-operator` on `<prefix>.*.in.operator.>`) and delivers one
 * notification per trigger and absent user — Web Push and/or a signed
 * webhook — exactly once across restarts and replicas (README "How it works").
 */
export async function createNotifier(config: NotifierConfig, deps: NotifierDeps): Promise<Notifier> {
  const log = deps.logger ?? pino({ name: "notifier", level: config.logLevel, base: { service: "notifier" } });
  const now = deps.now ?? Date.now;
  const { nc } = deps;
  const names = { stream: config.stream, prefix: config.subjectPrefix };
  const info = config.provision
    ? await provisionThreadline(nc, {
        ...names,
        replicas: config.replicas,
        presenceBucket: config.presenceBucket,
        controlBucket: config.controlBucket,
        pushBucket: config.pushBucket,
        notifyBucket: config.notifyBucket,
      })
    : await lookupThreadline(nc, names);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(js);
  const [presenceKv, controlKv, pushKv, notifyKv] = await Promise.all([
    kvm.open(config.presenceBucket),
    kvm.open(config.controlBucket),
    kvm.open(config.pushBucket),
    kvm.open(config.notifyBucket),
  ]);
  const notifyTtl = (await notifyKv.status()).ttl;
  if (notifyTtl > 0 && config.maxAgeMs + config.leaseMs >= notifyTtl) {
    throw new ConfigError("notifier", [
      `THREADLINE_NOTIFY_MAX_AGE_MS (${config.maxAgeMs}) + THREADLINE_NOTIFY_LEASE_MS (${config.leaseMs}) must be ` +
        `below the notify bucket's TTL (${notifyTtl} ms): an older trigger's claims may already be forgotten`,
    ]);
  }
  const metrics = createNotifierMetrics();
  const reader = createHistoryReader(js, jsm, { stream: info.stream });
  const subscriptions = new PushSubscriptions(pushKv, { allowLoopbackHttp: config.allowLoopbackHttp });
  const listeners = new Set<(outcome: Outcome) => void>();
  const handle = createTriggerHandler({
    config,
    // No TTL (0): nothing is forgotten. Else keep a lease's margin: a claim written just before expiry still counts.
    forgetAfterMs: notifyTtl > 0 ? notifyTtl - config.leaseMs : Number.POSITIVE_INFINITY,
    subjects: info.subjects,
    epoch: info.epoch,
    reader,
    audience: new AudienceCache(reader, info.subjects, config.audienceCacheSessions),
    presence: new PresenceBucket(presenceKv, nc),
    control: new ControlState(controlKv),
    prefs: new NotificationPreferences(pushKv),
    marks: new NotificationMarks<Reservation>(notifyKv),
    rate: new NotificationRate(notifyKv, { now }),
    delivery: {
      claims: new NotificationClaims(notifyKv, { leaseMs: config.leaseMs, now }),
      subscriptions,
      deadLetters: new DeadLetters<NotificationPayload>(notifyKv),
      push: config.vapid
        ? new WebPushChannel({
            vapid: config.vapid,
            allowedHosts: config.pushAllowedHosts,
            ...(deps.pushAgent ? { agent: deps.pushAgent } : {}),
          })
        : undefined,
      webhook: config.webhook,
      owner: config.notifierId,
      metrics,
      log,
      now,
    },
    metrics,
    log,
    now,
    emit: (outcome) => {
      log.debug(outcome, "notification decision");
      for (const listener of listeners) listener(outcome);
    },
  });
  const common = {
    js,
    jsm,
    stream: info.stream,
    ackWaitMs: config.ackWaitMs,
    maxAckPending: config.maxAckPending,
    concurrency: config.concurrency,
    drainMs: config.drainMs,
    handle,
    metrics,
    log,
  };
  const consumers: TriggerConsumer[] = [
    await startTriggerConsumer({
      ...common,
      durable: `${config.durable}-out`,
      filter: `${info.subjects.prefix}.*.out.>`,
    }),
    await startTriggerConsumer({
      ...common,
      durable: `${config.durable}-operator`,
      filter: `${info.subjects.prefix}.*.in.operator.>`,
    }),
  ];
  const consuming = () => consumers.every((c) => c.consuming);
  const timer = setInterval(() => metrics.consuming.set(consuming() ? 1 : 0), 1000);
  timer.unref();
  let http: HealthServer | undefined;
  if (config.httpPort >= 0) http = await startHealthServer(config.httpPort, metrics.registry, () => !nc.isClosed());
  log.info(
    {
      notifierId: config.notifierId,
      push: Boolean(config.vapid),
      webhook: Boolean(config.webhook),
      delayMs: config.delayMs,
      httpPort: http?.port,
    },
    "notifier running",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(timer);
      await Promise.all(consumers.map((c) => c.stop()));
      await http?.close();
      log.info({ notifierId: config.notifierId }, "notifier stopped");
    })();
    return closing;
  };
  return {
    metrics,
    httpPort: http?.port,
    onOutcome(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
