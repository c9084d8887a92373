import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Agent, connectAgent } from "@threadline/agent";
import { createNotifier, loadNotifierConfig, type Notifier, type Outcome } from "@threadline/notifier";
import { dedupeKey, encodeMsgpack, newId, type PresenceEntry, presenceKey } from "@threadline/protocol";
import { ControlState, connectNats, NotificationClaims, PresenceBucket, PushSubscriptions } from "@threadline/store";
import {
  createPushSubscription,
  type PushService,
  type PushSubscriptionJson,
  startNatsServer,
  startPushService,
  startWebhookReceiver,
  testTlsAgent,
  type WebhookReceiver,
  waitFor,
} from "@threadline/test-kit";
import { pino } from "pino";
import { onTestFinished } from "vitest";
import webPush from "web-push";
import { type EventLog, eventLog } from "./event-log.ts";
import { spawnService } from "./service-process.ts";

export const WEBHOOK_SECRET = "whsec_test";

/** The contract's Web Push `Topic` of a session: base64url(SHA-256(session)), first 32 characters. */
export function pushTopicOf(session: string): string {
  return createHash("sha256").update(session).digest("base64url").slice(0, 32);
}

/**
 * The NATS a rig runs on when the test brings its own: a test kit server
 * (no authentication; `{ nats: server }` passes it as is), or a cluster
 * under the deployment's users (the chaos suite).
 */
export interface RigNats {
  /** Server URLs, comma-separated (the notifier's `NATS_URL`). */
  readonly url: string;
  /**
   * The rig's own connection: users' and operators' writes, presence entries, push subscriptions,
   * claims and consumer info (the deployment's `gateway` user may do all of it). None: no authentication.
   */
  readonly auth?: { user: string; pass: string };
  /** The agent whose events are the triggers (closed by its owner). None: the rig connects agent `bot`. */
  readonly agent?: Agent;
  /** Added to every notifier's environment, e.g. its NATS user and `THREADLINE_PROVISION=false`. */
  readonly notifierEnv?: Record<string, string>;
}

/**
 * What the notifier tests share: a nats-server, the test kit's Web Push
 * service and webhook receiver, VAPID keys, an agent connection that
 * publishes triggers, and a plain connection for users' writes, presence
 * entries and the buckets. Torn down when the test finishes.
 */
export interface NotifierRig {
  nats: RigNats;
  nc: NatsConnection;
  agent: Agent;
  push: PushService;
  hooks: WebhookReceiver;
  vapid: { publicKey: string; privateKey: string };
  /** The notifier's environment: this rig, a 300 ms delay, short leases, `nats.notifierEnv`; `overrides` last. */
  env(overrides?: Record<string, string>): Record<string, string>;
  /** A "browser" subscribed with the rig's VAPID key and registered for `user` in the push bucket. */
  subscribe(user: string): Promise<PushSubscriptionJson>;
  /** `user` writes to `session` as the gateway stores it (`input` on `tl.<s>.in.user.<user>`); resolves to its seq. */
  userWrites(session: string, user: string, text?: string): Promise<number>;
  /** An operator writes to the customer (`input` on `tl.<s>.in.operator.<id>`). */
  operatorWrites(session: string, operator: string, text: string): Promise<number>;
  /** The agent ends a turn whose answer is `text` (message events, then `turn.end`). */
  turnEnd(session: string, text?: string, status?: string): Promise<{ seq: number; id: string }>;
  /** A device of `user` attached to `session`, written to the presence bucket as the gateway writes it; resolves to its leave. */
  present(session: string, user: string): Promise<() => Promise<void>>;
  /** A claim of the notify bucket (`undefined`: none). */
  claim(key: string): ReturnType<NotificationClaims["get"]>;
  /** Resolves once both durables of the notifier have nothing pending or unacknowledged. */
  settled(durable?: string): Promise<void>;
  /** The stream's epoch (notification ids). */
  epoch: string;
  control: ControlState;
}

export async function notifierRig(options: { nats?: RigNats } = {}): Promise<NotifierRig> {
  let nats: RigNats;
  if (options.nats) nats = options.nats;
  else {
    const server = await startNatsServer();
    onTestFinished(() => server.stop());
    nats = server;
  }
  const servers = nats.url.split(",");
  const push = await startPushService();
  onTestFinished(() => push.close());
  const hooks = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  onTestFinished(() => hooks.close());
  let agent = nats.agent;
  if (!agent) {
    const own = await connectAgent({ servers, id: "bot" });
    onTestFinished(() => own.close());
    agent = own;
  }
  const nc = await connect({ servers, ...nats.auth, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  onTestFinished(() => nc.close());
  const kvm = new Kvm(nc);
  const pushKv = await kvm.open("threadline-push");
  const subscriptions = new PushSubscriptions(pushKv);
  const presence = new PresenceBucket(await kvm.open("threadline-presence"), nc);
  const claims = new NotificationClaims(await kvm.open("threadline-notify"));
  const control = new ControlState(await kvm.open("threadline-control"));
  const vapid = webPush.generateVAPIDKeys();
  const js = jetstream(nc);

  const publish = async (subject: string, session: string, event: Record<string, unknown>) => {
    const id = newId();
    const envelope = { id, ts: Date.now(), ...event };
    return (await js.publish(subject, encodeMsgpack(envelope), { msgID: dedupeKey(session, id) })).seq;
  };

  return {
    nats,
    nc,
    agent,
    push,
    hooks,
    vapid,
    epoch: agent.info.epoch,
    control,
    env: (overrides = {}) => ({
      NATS_URL: nats.url,
      THREADLINE_VAPID_PUBLIC_KEY: vapid.publicKey,
      THREADLINE_VAPID_PRIVATE_KEY: vapid.privateKey,
      THREADLINE_VAPID_SUBJECT: "mailto:ops@example.com",
      THREADLINE_WEBHOOK_URL: hooks.url,
      THREADLINE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      THREADLINE_WEBHOOK_BACKOFF_MS: "50",
      THREADLINE_WEBHOOK_BACKOFF_MAX_MS: "200",
      THREADLINE_PUSH_ALLOWED_HOSTS: "127.0.0.1",
      THREADLINE_NOTIFY_DELAY_MS: "300",
      THREADLINE_NOTIFY_ACK_WAIT_MS: "2000",
      THREADLINE_NOTIFY_LEASE_MS: "2000",
      THREADLINE_NOTIFY_OPEN_URL: "https://shop.example/chat/{session}",
      THREADLINE_NOTIFIER_PORT: "-1",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      ...nats.notifierEnv,
      ...overrides,
    }),
    async subscribe(user) {
      const subscription = createPushSubscription(push, { applicationServerKey: vapid.publicKey });
      await subscriptions.register(user, subscription, { device: `${user}-device` });
      return subscription;
    },
    userWrites: (session, user, text = "hello") =>
      publish(`tl.${session}.in.user.${user}`, session, {
        type: "input",
        from: { kind: "user", id: user },
        data: { text },
      }),
    operatorWrites: (session, operator, text) =>
      publish(`tl.${session}.in.operator.${operator}`, session, {
        type: "input",
        from: { kind: "operator", id: operator },
        data: { text },
      }),
    async turnEnd(session, text = "The answer is 42.", status = "completed") {
      const turn = newId().replace(/[^A-Za-z0-9_-]/g, "");
      const message = `m${turn}`;
      await agent.publish(session, {
        type: "message.start",
        turn,
        ref: message,
        data: { id: message, role: "assistant" },
      });
      await agent.publish(session, { type: "message.append", turn, ref: message, data: { part: 0, delta: text } });
      await agent.publish(session, { type: "message.end", turn, ref: message, data: { status: "complete" } });
      const id = `end-${turn}`;
      const ack = await agent.publish(session, { id, type: "turn.end", turn, ref: turn, data: { status } });
      return { seq: ack.seq, id };
    },
    async present(session, user) {
      const connection = newId().replace(/[^A-Za-z0-9_-]/g, "");
      const key = presenceKey(session, "user", user, connection);
      const entry: PresenceEntry = {
        kind: "user",
        id: user,
        device: `${user}-tab`,
        connection,
        status: "active",
        since: Date.now(),
        heartbeatMs: 60_000,
      };
      await presence.write(key, entry);
      return () => presence.write(key, { ...entry, gone: "closed" });
    },
    claim: (key) => claims.get(key),
    async settled(durable = "threadline-notifier") {
      const jsm = await jetstreamManager(nc);
      await waitFor(
        async () => {
          for (const name of [`${durable}-out`, `${durable}-operator`]) {
            const info = await jsm.consumers.info("THREADLINE", name).catch(() => undefined);
            if (!info || info.num_ack_pending > 0 || info.num_pending > 0) return false;
          }
          return true;
        },
        { timeoutMs: 20_000, message: "the notifier's consumers still have messages pending" },
      );
    },
  };
}

export interface RunningNotifier {
  notifier: Notifier;
  /** Its decisions as they are made (`log.events`). */
  log: EventLog<Outcome>;
  close(): Promise<void>;
}

/** A notifier in this process (its own NATS connection; the push service trusted in-process). Stopped when the test finishes. */
export async function startNotifier(rig: NotifierRig, env: Record<string, string> = {}): Promise<RunningNotifier> {
  const config = loadNotifierConfig(rig.env(env));
  const nc = await connectNats(config.nats, `notifier-${config.notifierId}`);
  // TEST_LOG_LEVEL shows everything; otherwise only a shutdown that gave up on a handling is printed (to stderr:
  // the handling's seq and subject, what to look at when a test's teardown is slow).
  const logger = process.env.TEST_LOG_LEVEL
    ? pino({ level: process.env.TEST_LOG_LEVEL })
    : pino(
        { level: "warn" },
        {
          write(line: string) {
            if (line.includes("stopped with handlings still running")) process.stderr.write(line);
          },
        },
      );
  const notifier = await createNotifier(config, { nc, pushAgent: testTlsAgent(), logger });
  const log = eventLog<Outcome>("outcome", 15_000);
  notifier.onOutcome(log.push);
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= notifier.close().then(() => nc.close());
    return closed;
  };
  onTestFinished(close);
  return { notifier, log, close };
}

/** A notifier in its own process (`node services/notifier/src/main.ts`). */
export interface NotifierProcess {
  readonly pid: number;
  readonly httpPort: number;
  /** SIGKILL, resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful), resolves when it exited. */
  stop(): Promise<void>;
  /** The exit code once it exited (null: still running, or ended by a signal). */
  exitCode(): number | null;
  /** The sum of a metric's samples whose labels include `labels` (from /metrics). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  log(): string;
}

/** Spawns the notifier with the rig's environment; the push service's certificate is trusted via NODE_EXTRA_CA_CERTS. */
export async function spawnNotifier(rig: NotifierRig, env: Record<string, string> = {}): Promise<NotifierProcess> {
  const dir = mkdtempSync(join(tmpdir(), "tl-notifier-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const ca = join(dir, "push-ca.pem");
  writeFileSync(ca, rig.push.ca);
  const service = await spawnService({
    name: "notifier",
    command: process.execPath,
    args: ["--import", "tsx", "services/notifier/src/main.ts"],
    env: rig.env({ THREADLINE_NOTIFIER_PORT: "0", NODE_EXTRA_CA_CERTS: ca, ...env }),
    readyEvent: "notifier-ready",
  });
  onTestFinished(() => service.signal("SIGKILL"));
  const httpPort = service.ready.httpPort as number;
  return {
    pid: service.pid,
    httpPort,
    kill: () => service.signal("SIGKILL"),
    stop: () => service.signal("SIGTERM"),
    exitCode: () => service.proc.exitCode,
    async metric(name, labels = {}) {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      let sum = 0;
      for (const line of text.split("\n")) {
        const match = /^([a-z_]+)(\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
        if (!match || match[1] !== name) continue;
        const have = Object.fromEntries([...(match[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(match[4]);
      }
      return sum;
    },
    log: service.log,
  };
}
