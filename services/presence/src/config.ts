import { hostname } from "node:os";
import { DEFAULT_PRESENCE_BUCKET, DEFAULT_STREAM_NAME, DEFAULT_SUBJECT_PREFIX } from "@threadline/protocol";

/** NATS credentials of one connection. */
export interface NatsAuth {
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
}

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

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid presence configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadPresenceConfig(env: Record<string, string | undefined> = process.env): PresenceConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer in [${min}, ${max}] (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return n;
  };
  const token = (name: string, fallback: string): string => {
    const value = env[name] || fallback;
    if (!/^[A-Za-z0-9_-]+$/.test(value))
      problems.push(`${name} must match [A-Za-z0-9_-]+ (got ${JSON.stringify(value)})`);
    return value;
  };
  const list = (raw: string): string[] =>
    raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const servers = list(env.NATS_URL || "nats://127.0.0.1:4222");
  const provision = (env.THREADLINE_PROVISION ?? "true").toLowerCase();
  if (!["true", "false", "1", "0"].includes(provision)) problems.push("THREADLINE_PROVISION must be true or false");
  const sysUser = env.NATS_SYS_USER || undefined;
  const sysToken = env.NATS_SYS_TOKEN || undefined;
  const config: PresenceConfig = {
    presenceId: token("THREADLINE_PRESENCE_ID", hostname().replace(/[^A-Za-z0-9_-]/g, "-") || "presence"),
    nats: {
      servers,
      user: env.NATS_USER || undefined,
      pass: env.NATS_PASS || undefined,
      token: env.NATS_TOKEN || undefined,
    },
    sysNats:
      sysUser || sysToken
        ? {
            servers: list(env.NATS_SYS_URL || env.NATS_URL || "nats://127.0.0.1:4222"),
            user: sysUser,
            pass: env.NATS_SYS_PASS || undefined,
            token: sysToken,
          }
        : undefined,
    stream: token("THREADLINE_STREAM", DEFAULT_STREAM_NAME),
    subjectPrefix: token("THREADLINE_SUBJECT_PREFIX", DEFAULT_SUBJECT_PREFIX),
    presenceBucket: token("THREADLINE_PRESENCE_BUCKET", DEFAULT_PRESENCE_BUCKET),
    replicas: int("THREADLINE_REPLICAS", 1, 1, 5),
    provision: provision === "true" || provision === "1",
    sweepMs: int("THREADLINE_PRESENCE_SWEEP_MS", 250, 10, 60_000),
    reconcileWindowMs: int("THREADLINE_PRESENCE_RECONCILE_WINDOW_MS", 110_000, 0),
    httpPort: int("THREADLINE_PRESENCE_PORT", 8081, -1, 65535),
    logLevel: env.LOG_LEVEL || "info",
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
