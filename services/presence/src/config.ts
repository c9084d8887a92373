import { hostname } from "node:os";
import { DEFAULT_PRESENCE_BUCKET, DEFAULT_STREAM_NAME, DEFAULT_SUBJECT_PREFIX } from "@threadline/protocol";
import { ConfigError, EnvReader, type NatsAuth } from "@threadline/store";

/** Everything the presence service needs to run. `loadPresenceConfig` builds it from the environment (see README). */
export interface PresenceConfig {
  /** Replica id (logs, NATS connection names). */
  presenceId: string;
  nats: { servers: string[] } & NatsAuth;
  /**
   * Credentials of a system-account user for `$SYS.ACCOUNT.*.DISCONNECT`
   * advisories (crash detection within ~1 s). Absent: heartbeat expiry only.
   */
  sysNats: ({ servers: string[] } & NatsAuth) | undefined;
  stream: string;
  subjectPrefix: string;
  presenceBucket: string;
  replicas: number;
  /** Create/update the stream and buckets at start (false: they must exist). */
  provision: boolean;
  /** Interval of the heartbeat-expiry sweep, ms. */
  sweepMs: number;
  /** After a restart, leaves of the last `reconcileWindowMs` that may not have been published are published (deduplicated). Keep ≤ the stream's duplicate window. */
  reconcileWindowMs: number;
  /** HTTP port for /healthz and /metrics; 0 picks a free port, -1 disables. */
  httpPort: number;
  logLevel: string;
}

export { ConfigError, type NatsAuth };

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadPresenceConfig(env: Record<string, string | undefined> = process.env): PresenceConfig {
  const read = new EnvReader(env);
  const { int, token } = bind(read);
  const sysUser = read.string("NATS_SYS_USER");
  const sysToken = read.string("NATS_SYS_TOKEN");
  const config: PresenceConfig = {
    presenceId: token("THREADLINE_PRESENCE_ID", hostname().replace(/[^A-Za-z0-9_-]/g, "-") || "presence"),
    nats: read.nats(),
    sysNats: sysUser || sysToken ? read.nats("NATS_SYS", env.NATS_URL || "nats://127.0.0.1:4222") : undefined,
    stream: token("THREADLINE_STREAM", DEFAULT_STREAM_NAME),
    subjectPrefix: token("THREADLINE_SUBJECT_PREFIX", DEFAULT_SUBJECT_PREFIX),
    presenceBucket: token("THREADLINE_PRESENCE_BUCKET", DEFAULT_PRESENCE_BUCKET),
    replicas: int("THREADLINE_REPLICAS", 1, 1, 5),
    provision: read.bool("THREADLINE_PROVISION", true),
    sweepMs: int("THREADLINE_PRESENCE_SWEEP_MS", 250, 10, 60_000),
    reconcileWindowMs: int("THREADLINE_PRESENCE_RECONCILE_WINDOW_MS", 110_000, 0),
    httpPort: int("THREADLINE_PRESENCE_PORT", 8081, -1, 65535),
    logLevel: env.LOG_LEVEL || "info",
  };
  read.check("presence");
  return config;
}

/** The reader's methods as plain functions (the table above reads better without `read.`). */
function bind(read: EnvReader) {
  return { int: read.int.bind(read), token: read.token.bind(read) };
}
