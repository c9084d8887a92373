import { createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import {
  DEFAULT_CONTROL_BUCKET,
  DEFAULT_LIMITS,
  DEFAULT_LIVE_PREFIX,
  DEFAULT_PRESENCE_BUCKET,
  DEFAULT_PRESENCE_HEARTBEAT_MS,
  DEFAULT_STREAM_NAME,
  DEFAULT_SUBJECT_PREFIX,
  type Limits,
  MAX_PRESENCE_HEARTBEAT_MS,
  MIN_PRESENCE_HEARTBEAT_MS,
} from "@threadline/protocol";
import {
  ConfigError,
  DEFAULT_PUSH_ALLOWED_HOSTS,
  EnvReader,
  PROVISION_DEFAULTS,
  pushHostPatternProblem,
} from "@threadline/store";
import { type AuthConfig, algorithmOfPublicKey } from "./auth.ts";
import type { DurableStreamSettings } from "./durable-streams/routes.ts";
import { DEFAULT_STREAMS_BUCKET } from "./durable-streams/stream-records.ts";
import type { HttpWriteLimits } from "./http-write-limiter.ts";
import type { UserLimits } from "./user-limiter.ts";

/** Everything the gateway needs to run. `loadConfig` builds it from the environment (see README). */
export interface GatewayConfig {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  gatewayId: string;
  nats: { servers: string[]; user?: string | undefined; pass?: string | undefined; token?: string | undefined };
  jwt: AuthConfig;
  /**
   * Browser origins allowed to use the gateway (exact `scheme://host[:port]`), or undefined for any
   * (`THREADLINE_ALLOWED_ORIGINS`). A socket whose `Origin` header is not listed is closed with 4504
   * right after the upgrade; the HTTP API answers CORS (preflight and `Access-Control-Allow-Origin`)
   * for listed origins only (cors.ts).
   */
  allowedOrigins: readonly string[] | undefined;
  /** Accept `?access_token=` on the upgrade URL (off by default: URLs end up in logs). */
  allowQueryToken: boolean;
  /** Serve TLS in the process (uWS SSLApp) from these PEM files; undefined = plain ws (TLS at the ingress). */
  tls: { certFile: string; keyFile: string } | undefined;
  stream: string;
  subjectPrefix: string;
  livePrefix: string;
  cursorBucket: string;
  /** Presence KV bucket (`THREADLINE_PRESENCE_BUCKET`). */
  presenceBucket: string;
  /** Live-control KV bucket: turns, client calls, session owner (`THREADLINE_CONTROL_BUCKET`, PROTOCOL.md §17). */
  controlBucket: string;
  /** Heartbeat interval of the gateway's presence entries, ms (`THREADLINE_PRESENCE_HEARTBEAT_MS`). */
  presenceHeartbeatMs: number;
  replicas: number;
  /** Create/update the stream and buckets at start (false: they must exist). */
  provision: boolean;
  limits: Limits;
  /** Per-user limits across the sockets of one user on this gateway (not announced to clients). */
  userLimits: UserLimits;
  ringMaxEvents: number;
  ringMaxBytes: number;
  /** How far catch-ups from the recent-events cache may extend a session's ring (`THREADLINE_RING_CATCHUP_*`). */
  ringCatchUpEvents: number;
  ringCatchUpBytes: number;
  /**
   * Bytes of recent events the gateway keeps for catch-ups, over all sessions (`THREADLINE_CACHE_BYTES`,
   * default 64 MiB, 0 = off; recent-events.ts).
   */
  recentEventsBytes: number;
  feedLingerMs: number;
  maxFeeds: number;
  /** Sessions whose shared state the gateway keeps in memory, LRU (`THREADLINE_STATE_CACHE_SESSIONS`, state-cache.ts). */
  stateCacheSessions: number;
  cursorFlushMs: number;
  slowTimeoutMs: number;
  attachmentBuffer: number;
  drainTimeoutMs: number;
  logLevel: string;
  /** Devices' Web Push subscriptions and notification preferences (`THREADLINE_PUSH_BUCKET`, PROTOCOL.md §20). */
  pushBucket: string;
  /**
   * The VAPID public key (base64url of the 65-byte P-256 point) served at `GET /v1/push/vapid-public-key`
   * for `pushManager.subscribe` (`THREADLINE_VAPID_PUBLIC_KEY`); undefined = 404 `PUSH_DISABLED` there.
   */
  vapidPublicKey: string | undefined;
  /** Hosts push endpoints may point at (`THREADLINE_PUSH_ALLOWED_HOSTS`, `pushHostAllowed` patterns). */
  pushAllowedHosts: readonly string[];
  /** Per-user budget of HTTP API writes (push subscriptions, preferences), per gateway (http-write-limiter.ts). */
  httpWriteLimits: HttpWriteLimits;
  /** The Durable Streams HTTP API (PROTOCOL.md §21): limits, and the bucket of data-stream records. */
  durableStreams: DurableStreamSettings & { bucket: string };
}

export { ConfigError };

const LIMIT_ENV: Record<keyof Limits, string> = {
  maxFrameBytes: "THREADLINE_LIMIT_MAX_FRAME_BYTES",
  maxPayloadBytes: "THREADLINE_LIMIT_MAX_PAYLOAD_BYTES",
  maxEventBytes: "THREADLINE_LIMIT_MAX_EVENT_BYTES",
  maxSessionsPerSocket: "THREADLINE_LIMIT_MAX_SESSIONS_PER_SOCKET",
  framesPerSecond: "THREADLINE_LIMIT_FRAMES_PER_SECOND",
  frameBurst: "THREADLINE_LIMIT_FRAME_BURST",
  maxRateLimitedFrames: "THREADLINE_LIMIT_MAX_RATE_LIMITED_FRAMES",
  maxPendingPublishes: "THREADLINE_LIMIT_MAX_PENDING_PUBLISHES",
  maxStateOpsPerSecond: "THREADLINE_LIMIT_MAX_STATE_OPS_PER_SECOND",
  maxProtocolErrors: "THREADLINE_LIMIT_MAX_PROTOCOL_ERRORS",
  authTimeoutMs: "THREADLINE_LIMIT_AUTH_TIMEOUT_MS",
  idleTimeoutSeconds: "THREADLINE_LIMIT_IDLE_TIMEOUT_SECONDS",
  maxBufferedBytes: "THREADLINE_LIMIT_MAX_BUFFERED_BYTES",
};

/**
 * Reads and validates the configuration; throws a ConfigError listing every
 * problem at once, so a misconfigured deployment fails at start with a clear message.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const read = new EnvReader(env);
  const problems = read.problems;
  const int = read.int.bind(read);
  const token = read.token.bind(read);
  const secret = env.THREADLINE_JWT_SECRET || undefined;
  const publicKeyPem = env.THREADLINE_JWT_PUBLIC_KEY?.replace(/\\n/g, "\n") || undefined;
  const jwksUrl = env.THREADLINE_JWT_JWKS_URL || undefined;
  if (secret !== undefined && secret.length < 32)
    problems.push("THREADLINE_JWT_SECRET must be at least 32 characters (HS256 key)");
  if (!secret && !publicKeyPem && !jwksUrl)
    problems.push(
      "a token key is required: THREADLINE_JWT_SECRET (HS256, ≥ 32 chars), THREADLINE_JWT_PUBLIC_KEY (PEM) and/or THREADLINE_JWT_JWKS_URL",
    );
  if (publicKeyPem) {
    try {
      algorithmOfPublicKey(createPublicKey(publicKeyPem));
    } catch (error) {
      problems.push(`THREADLINE_JWT_PUBLIC_KEY: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (jwksUrl && !/^https?:\/\/[^\s]+$/.test(jwksUrl))
    problems.push(`THREADLINE_JWT_JWKS_URL must be an http(s) URL (got ${JSON.stringify(jwksUrl)})`);
  const bool = read.bool.bind(read);
  const certFile = env.THREADLINE_TLS_CERT || undefined;
  const keyFile = env.THREADLINE_TLS_KEY || undefined;
  if (Boolean(certFile) !== Boolean(keyFile))
    problems.push("THREADLINE_TLS_CERT and THREADLINE_TLS_KEY must be set together (PEM file paths)");
  for (const [name, file] of [
    ["THREADLINE_TLS_CERT", certFile],
    ["THREADLINE_TLS_KEY", keyFile],
  ] as const) {
    if (file && !existsSync(file)) problems.push(`${name}: no such file ${JSON.stringify(file)}`);
  }
  const tlsFiles = certFile && keyFile ? { certFile, keyFile } : undefined;
  const origins = (env.THREADLINE_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((o) => o.trim().replace(/\/+$/, ""))
    .filter(Boolean);
  for (const origin of origins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin))
      problems.push(
        `THREADLINE_ALLOWED_ORIGINS entries must be scheme://host[:port] or * (got ${JSON.stringify(origin)})`,
      );
  }

  const limits = { ...DEFAULT_LIMITS };
  for (const [key, name] of Object.entries(LIMIT_ENV) as [keyof Limits, string][]) {
    limits[key] = int(name, DEFAULT_LIMITS[key], 1);
  }
  if (limits.maxFrameBytes > limits.maxPayloadBytes)
    problems.push("THREADLINE_LIMIT_MAX_FRAME_BYTES must not exceed THREADLINE_LIMIT_MAX_PAYLOAD_BYTES");
  if (limits.maxEventBytes > limits.maxFrameBytes)
    problems.push("THREADLINE_LIMIT_MAX_EVENT_BYTES must not exceed THREADLINE_LIMIT_MAX_FRAME_BYTES");
  if (limits.frameBurst < 1) problems.push("THREADLINE_LIMIT_FRAME_BURST must be ≥ 1");

  const config: GatewayConfig = {
    host: env.THREADLINE_GATEWAY_HOST || "0.0.0.0",
    port: int("THREADLINE_GATEWAY_PORT", 8080, 0, 65535),
    gatewayId: token("THREADLINE_GATEWAY_ID", hostname().replace(/[^A-Za-z0-9_-]/g, "-") || "gateway"),
    nats: read.nats(),
    jwt: {
      secret,
      publicKeyPem,
      jwksUrl,
      jwksCacheMaxAgeMs: int("THREADLINE_JWT_JWKS_CACHE_MS", 600_000, 0),
      jwksCooldownMs: int("THREADLINE_JWT_JWKS_COOLDOWN_MS", 30_000, 0),
      issuer: env.THREADLINE_JWT_ISSUER || undefined,
      audience: env.THREADLINE_JWT_AUDIENCE || undefined,
      clockToleranceSec: int("THREADLINE_JWT_CLOCK_TOLERANCE_SEC", 5, 0, 300),
    },
    allowedOrigins: origins.length === 0 || origins.includes("*") ? undefined : origins,
    allowQueryToken: bool("THREADLINE_ALLOW_QUERY_TOKEN", false),
    tls: tlsFiles,
    stream: token("THREADLINE_STREAM", DEFAULT_STREAM_NAME),
    subjectPrefix: token("THREADLINE_SUBJECT_PREFIX", DEFAULT_SUBJECT_PREFIX),
    livePrefix: token("THREADLINE_LIVE_PREFIX", DEFAULT_LIVE_PREFIX),
    cursorBucket: token("THREADLINE_CURSOR_BUCKET", "threadline-cursors"),
    presenceBucket: token("THREADLINE_PRESENCE_BUCKET", DEFAULT_PRESENCE_BUCKET),
    controlBucket: token("THREADLINE_CONTROL_BUCKET", DEFAULT_CONTROL_BUCKET),
    presenceHeartbeatMs: int(
      "THREADLINE_PRESENCE_HEARTBEAT_MS",
      DEFAULT_PRESENCE_HEARTBEAT_MS,
      MIN_PRESENCE_HEARTBEAT_MS,
      MAX_PRESENCE_HEARTBEAT_MS,
    ),
    replicas: int("THREADLINE_REPLICAS", 1, 1, 5),
    provision: bool("THREADLINE_PROVISION", true),
    limits,
    userLimits: {
      maxSocketsPerUser: int("THREADLINE_LIMIT_MAX_SOCKETS_PER_USER", 32, 1),
      userEventsPerSecond: int("THREADLINE_LIMIT_USER_EVENTS_PER_SECOND", 50, 1),
      userEventBurst: int("THREADLINE_LIMIT_USER_EVENT_BURST", 100, 1),
    },
    ringMaxEvents: int("THREADLINE_RING_EVENTS", 1024, 1),
    ringMaxBytes: int("THREADLINE_RING_BYTES", 1024 * 1024, 1024),
    ringCatchUpEvents: int("THREADLINE_RING_CATCHUP_EVENTS", 16_384, 1),
    ringCatchUpBytes: int("THREADLINE_RING_CATCHUP_BYTES", 4 * 1024 * 1024, 1024),
    recentEventsBytes: int("THREADLINE_CACHE_BYTES", 64 * 1024 * 1024, 0),
    feedLingerMs: int("THREADLINE_FEED_LINGER_MS", 30_000, 0),
    maxFeeds: int("THREADLINE_MAX_FEEDS", 100_000, 1),
    stateCacheSessions: int("THREADLINE_STATE_CACHE_SESSIONS", 10_000, 1),
    cursorFlushMs: int("THREADLINE_CURSOR_FLUSH_MS", 1_000, 10),
    slowTimeoutMs: int("THREADLINE_SLOW_TIMEOUT_MS", 30_000, 100),
    attachmentBuffer: int("THREADLINE_ATTACHMENT_BUFFER", 10_000, 1),
    drainTimeoutMs: int("THREADLINE_DRAIN_TIMEOUT_MS", 10_000, 0),
    logLevel: env.LOG_LEVEL || "info",
    pushBucket: token("THREADLINE_PUSH_BUCKET", PROVISION_DEFAULTS.pushBucket),
    vapidPublicKey: read.string("THREADLINE_VAPID_PUBLIC_KEY"),
    pushAllowedHosts: read.list("THREADLINE_PUSH_ALLOWED_HOSTS", DEFAULT_PUSH_ALLOWED_HOSTS.join(",")),
    httpWriteLimits: {
      perMinute: int("THREADLINE_LIMIT_HTTP_WRITES_PER_MINUTE", 30, 1),
      burst: int("THREADLINE_LIMIT_HTTP_WRITE_BURST", 10, 1),
    },
    durableStreams: {
      basePath: "/v1/stream",
      bucket: token("THREADLINE_STREAMS_BUCKET", DEFAULT_STREAMS_BUCKET),
      longPollTimeoutMs: int("THREADLINE_DS_LONG_POLL_TIMEOUT_MS", 20_000, 100, 120_000),
      sseMaxMs: int("THREADLINE_DS_SSE_MAX_MS", 60_000, 1_000, 3_600_000),
      maxBodyBytes: int("THREADLINE_DS_MAX_BODY_BYTES", 512 * 1024, 1, 900 * 1024),
      readMaxBytes: int("THREADLINE_DS_READ_MAX_BYTES", 1024 * 1024, 1),
      maxLivePerUser: int("THREADLINE_DS_MAX_LIVE_PER_USER", 16, 1),
      writesPerSecond: int("THREADLINE_DS_WRITES_PER_SECOND", 50, 1),
      writeBurst: int("THREADLINE_DS_WRITE_BURST", 100, 1),
    },
  };
  if (config.vapidPublicKey !== undefined && !isVapidPublicKey(config.vapidPublicKey))
    problems.push(
      "THREADLINE_VAPID_PUBLIC_KEY must be base64url of a 65-byte uncompressed P-256 point (web-push's publicKey)",
    );
  for (const pattern of config.pushAllowedHosts) {
    const problem = pushHostPatternProblem(pattern);
    if (problem) problems.push(`THREADLINE_PUSH_ALLOWED_HOSTS: ${problem}`);
  }
  if (config.livePrefix === config.subjectPrefix)
    problems.push("THREADLINE_LIVE_PREFIX must differ from THREADLINE_SUBJECT_PREFIX");
  read.check("gateway");
  return config;
}

/** A VAPID public key as `web-push` prints it: base64url (no padding) of an uncompressed P-256 point. */
function isVapidPublicKey(key: string): boolean {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return false;
  const bytes = Buffer.from(key, "base64url");
  return bytes.length === 65 && bytes[0] === 0x04;
}
