import { hostname } from "node:os";
import {
  DEFAULT_CONTROL_BUCKET,
  DEFAULT_PRESENCE_BUCKET,
  DEFAULT_STREAM_NAME,
  DEFAULT_SUBJECT_PREFIX,
} from "@threadline/protocol";
import {
  ConfigError,
  DEFAULT_PUSH_ALLOWED_HOSTS,
  EnvReader,
  type NatsAuth,
  PROVISION_DEFAULTS,
  pushHostPatternProblem,
} from "@threadline/store";
import webPush from "web-push";

/** VAPID (RFC 8292): the application server's key pair and contact. */
export interface VapidConfig {
  /** Base64url uncompressed P-256 public key (65 bytes): what browsers subscribe with. */
  publicKey: string;
  /** Base64url private key (32 bytes). */
  privateKey: string;
  /** `mailto:` or `https:` contact of the operator. */
  subject: string;
}

/** The signed webhook (test/kit/README.md "startWebhookReceiver" is the scheme). */
export interface WebhookConfig {
  url: string;
  /** One `v1=` signature per secret (rotation: the receiver accepts any). */
  secrets: string[];
  /** Tries per notification, the first included. */
  maxAttempts: number;
  /** One try's time limit, ms. */
  timeoutMs: number;
  /** Backoff between tries (`RetryPolicy.webhook`'s shape): first delay and cap, ms. */
  backoffMs: number;
  backoffMaxMs: number;
}

/** Everything the notifier needs to run. `loadNotifierConfig` builds it from the environment (see README). */
export interface NotifierConfig {
  /** Replica id: claim owner, logs, NATS connection name. */
  notifierId: string;
  nats: { servers: string[] } & NatsAuth;
  stream: string;
  subjectPrefix: string;
  presenceBucket: string;
  controlBucket: string;
  pushBucket: string;
  notifyBucket: string;
  replicas: number;
  /** Create/update the stream and buckets at start (false: they must exist). */
  provision: boolean;
  /** Durable consumer names: `<durable>-out` and `<durable>-operator`. */
  durable: string;
  /** HTTP port for /healthz and /metrics; 0 picks a free port, -1 disables. */
  httpPort: number;
  vapid: VapidConfig | undefined;
  webhook: WebhookConfig | undefined;
  /** A trigger is due this long after its stream timestamp. */
  delayMs: number;
  /** Triggers older than this when first seen are dropped (`stale`). Must be < the notify bucket's TTL. */
  maxAgeMs: number;
  /** A burst is cut this long after its first trigger. */
  collapseMaxMs: number;
  /** Notifications per user per window, across replicas. */
  userRate: number;
  userRateWindowMs: number;
  /** `url` of the payload, with `{session}` replaced (URL-encoded); undefined: no `url`. */
  openUrl: string | undefined;
  /** Accept `http://` loopback push endpoints (the test kit's push service is https; this is for http ones). */
  allowLoopbackHttp: boolean;
  /** Push service hosts the notifier sends to (`*.suffix` wildcards): SSRF defence. */
  pushAllowedHosts: string[];
  /** JetStream ack wait of the durables; in-progress acks keep long deliveries alive. */
  ackWaitMs: number;
  /** Claim lease: a claim not renewed for this long is taken over by another replica. */
  leaseMs: number;
  /** Triggers delivered and not yet acknowledged per durable (waiting to be due count too). */
  maxAckPending: number;
  /** Triggers handled at once per durable in this process. */
  concurrency: number;
  /** At shutdown, how long handlings under way may still finish; the rest is redelivered (as after a crash). */
  drainMs: number;
  /** Sessions whose audience (users) is cached. */
  audienceCacheSessions: number;
  logLevel: string;
}

export { ConfigError, type NatsAuth };

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadNotifierConfig(env: Record<string, string | undefined> = process.env): NotifierConfig {
  const read = new EnvReader(env);
  const int = read.int.bind(read);
  const token = read.token.bind(read);
  const config: NotifierConfig = {
    notifierId: token("THREADLINE_NOTIFIER_ID", hostname().replace(/[^A-Za-z0-9_-]/g, "-") || "notifier"),
    nats: read.nats(),
    stream: token("THREADLINE_STREAM", DEFAULT_STREAM_NAME),
    subjectPrefix: token("THREADLINE_SUBJECT_PREFIX", DEFAULT_SUBJECT_PREFIX),
    presenceBucket: token("THREADLINE_PRESENCE_BUCKET", DEFAULT_PRESENCE_BUCKET),
    controlBucket: token("THREADLINE_CONTROL_BUCKET", DEFAULT_CONTROL_BUCKET),
    pushBucket: token("THREADLINE_PUSH_BUCKET", PROVISION_DEFAULTS.pushBucket),
    notifyBucket: token("THREADLINE_NOTIFY_BUCKET", PROVISION_DEFAULTS.notifyBucket),
    replicas: int("THREADLINE_REPLICAS", 1, 1, 5),
    provision: read.bool("THREADLINE_PROVISION", true),
    durable: token("THREADLINE_NOTIFIER_DURABLE", "threadline-notifier"),
    httpPort: int("THREADLINE_NOTIFIER_PORT", 8082, -1, 65535),
    vapid: readVapid(read),
    webhook: readWebhook(read),
    delayMs: int("THREADLINE_NOTIFY_DELAY_MS", 5000, 0, 3_600_000),
    maxAgeMs: int("THREADLINE_NOTIFY_MAX_AGE_MS", 3_600_000, 1000),
    collapseMaxMs: int("THREADLINE_NOTIFY_COLLAPSE_MAX_MS", 60_000, 0, 3_600_000),
    userRate: int("THREADLINE_NOTIFY_USER_RATE", 6, 1, 10_000),
    userRateWindowMs: int("THREADLINE_NOTIFY_USER_RATE_WINDOW_MS", 60_000, 1000, 86_400_000),
    openUrl: readOpenUrl(read),
    allowLoopbackHttp: read.bool("THREADLINE_PUSH_ALLOW_LOOPBACK_HTTP", false),
    pushAllowedHosts: read.list("THREADLINE_PUSH_ALLOWED_HOSTS", DEFAULT_PUSH_ALLOWED_HOSTS.join(",")),
    ackWaitMs: int("THREADLINE_NOTIFY_ACK_WAIT_MS", 30_000, 1000, 600_000),
    leaseMs: int("THREADLINE_NOTIFY_LEASE_MS", 30_000, 1000, 600_000),
    maxAckPending: int("THREADLINE_NOTIFY_MAX_PENDING", 10_000, 1, 1_000_000),
    concurrency: int("THREADLINE_NOTIFY_CONCURRENCY", 64, 1, 10_000),
    drainMs: int("THREADLINE_NOTIFY_DRAIN_MS", 10_000, 0, 600_000),
    audienceCacheSessions: int("THREADLINE_NOTIFY_AUDIENCE_CACHE", 10_000, 1, 10_000_000),
    logLevel: env.LOG_LEVEL || "info",
  };
  if (!config.vapid && !config.webhook) {
    read.problems.push(
      "nothing to deliver: set THREADLINE_VAPID_PUBLIC_KEY/_PRIVATE_KEY/_SUBJECT (Web Push) and/or THREADLINE_WEBHOOK_URL",
    );
  }
  if (config.delayMs >= config.maxAgeMs) {
    read.problems.push("THREADLINE_NOTIFY_DELAY_MS must be below THREADLINE_NOTIFY_MAX_AGE_MS");
  }
  if (config.concurrency > config.maxAckPending) {
    read.problems.push("THREADLINE_NOTIFY_CONCURRENCY must not exceed THREADLINE_NOTIFY_MAX_PENDING");
  }
  for (const pattern of config.pushAllowedHosts) {
    const problem = pushHostPatternProblem(pattern);
    if (problem) read.problems.push(`THREADLINE_PUSH_ALLOWED_HOSTS: ${problem}`);
  }
  read.check("notifier");
  return config;
}

/** All three VAPID settings, or none; validated the way `web-push` will use them. */
function readVapid(read: EnvReader): VapidConfig | undefined {
  const publicKey = read.string("THREADLINE_VAPID_PUBLIC_KEY");
  const privateKey = read.string("THREADLINE_VAPID_PRIVATE_KEY");
  const subject = read.string("THREADLINE_VAPID_SUBJECT");
  if (!publicKey && !privateKey && !subject) return undefined;
  if (!publicKey || !privateKey || !subject) {
    read.problems.push(
      "THREADLINE_VAPID_PUBLIC_KEY, THREADLINE_VAPID_PRIVATE_KEY and THREADLINE_VAPID_SUBJECT go together",
    );
    return undefined;
  }
  if (!/^(mailto:|https:)/.test(subject)) {
    read.problems.push(`THREADLINE_VAPID_SUBJECT must be a mailto: or https: URL (got ${JSON.stringify(subject)})`);
    return undefined;
  }
  try {
    // Signs a throwaway JWT: the library's own checks of key sizes and encoding.
    webPush.getVapidHeaders("https://push.example", subject, publicKey, privateKey, "aes128gcm");
  } catch (error) {
    read.problems.push(`THREADLINE_VAPID_*: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  return { publicKey, privateKey, subject };
}

function readWebhook(read: EnvReader): WebhookConfig | undefined {
  const url = read.string("THREADLINE_WEBHOOK_URL");
  const secrets = read.list("THREADLINE_WEBHOOK_SECRET", "");
  const settings = {
    maxAttempts: read.int("THREADLINE_WEBHOOK_MAX_ATTEMPTS", 8, 1, 100),
    timeoutMs: read.int("THREADLINE_WEBHOOK_TIMEOUT_MS", 10_000, 100, 300_000),
    backoffMs: read.int("THREADLINE_WEBHOOK_BACKOFF_MS", 1000, 0, 3_600_000),
    backoffMaxMs: read.int("THREADLINE_WEBHOOK_BACKOFF_MAX_MS", 60_000, 0, 3_600_000),
  };
  if (!url) {
    if (secrets.length > 0) read.problems.push("THREADLINE_WEBHOOK_SECRET is set but THREADLINE_WEBHOOK_URL is not");
    return undefined;
  }
  if (!isHttpUrl(url)) read.problems.push(`THREADLINE_WEBHOOK_URL must be an http(s) URL (got ${JSON.stringify(url)})`);
  if (secrets.length === 0)
    read.problems.push("THREADLINE_WEBHOOK_URL needs THREADLINE_WEBHOOK_SECRET (comma-separated)");
  if (settings.backoffMs > settings.backoffMaxMs) {
    read.problems.push("THREADLINE_WEBHOOK_BACKOFF_MS must not exceed THREADLINE_WEBHOOK_BACKOFF_MAX_MS");
  }
  return { url, secrets, ...settings };
}

const MAX_OPEN_URL_LENGTH = 1024;

function readOpenUrl(read: EnvReader): string | undefined {
  const template = read.string("THREADLINE_NOTIFY_OPEN_URL");
  if (template === undefined) return undefined;
  if (template.length > MAX_OPEN_URL_LENGTH || !isHttpUrl(template.replaceAll("{session}", "s"))) {
    read.problems.push(
      `THREADLINE_NOTIFY_OPEN_URL must be an http(s) URL of at most ${MAX_OPEN_URL_LENGTH} characters, {session} marking the session id`,
    );
  }
  return template;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}
