/**
 * Settings from the environment for Threadline's NATS-side processes
 * (gateway, presence service, notifier): typed readers that collect every
 * problem instead of throwing at the first, so a misconfigured deployment
 * fails at start with one message listing them all (`ConfigError`).
 */

/** NATS credentials of one connection. */
export interface NatsAuth {
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
}

/** A configuration that does not validate: every problem found, one per line. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    /** Which process's configuration ("gateway", "presence"). */
    what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what} configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Record<string, string | undefined>) {}

  /** The raw value; `undefined` when unset or empty. */
  string(name: string): string | undefined {
    return this.env[name] || undefined;
  }

  /** An integer in [min, max]; `fallback` when unset or empty. */
  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be an integer in [${min}, ${max}] (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return n;
  }

  /** A name token (`[A-Za-z0-9_-]+`: stream, bucket, prefix, id). */
  token(name: string, fallback: string): string {
    const value = this.env[name] || fallback;
    if (!/^[A-Za-z0-9_-]+$/.test(value)) {
      this.problems.push(`${name} must match [A-Za-z0-9_-]+ (got ${JSON.stringify(value)})`);
    }
    return value;
  }

  /** `true`/`false`/`1`/`0` (any case); `fallback` when unset or empty. */
  bool(name: string, fallback: boolean): boolean {
    const raw = (this.env[name] ?? "").toLowerCase();
    if (raw === "") return fallback;
    if (raw === "true" || raw === "1") return true;
    if (raw === "false" || raw === "0") return false;
    this.problems.push(`${name} must be true or false (got ${JSON.stringify(this.env[name])})`);
    return fallback;
  }

  /** A comma-separated list, trimmed, empty entries dropped; `fallback` when unset or empty. */
  list(name: string, fallback: string): string[] {
    return splitList(this.env[name] || fallback);
  }

  /** `NATS_URL` (comma-separated) and `NATS_USER`/`NATS_PASS`/`NATS_TOKEN`, or the `<prefix>_…` variants. */
  nats(prefix = "NATS", fallbackUrl = "nats://127.0.0.1:4222"): { servers: string[] } & NatsAuth {
    return {
      servers: this.list(`${prefix}_URL`, fallbackUrl),
      user: this.string(`${prefix}_USER`),
      pass: this.string(`${prefix}_PASS`),
      token: this.string(`${prefix}_TOKEN`),
    };
  }

  /** Throws `ConfigError` when any reader found a problem. */
  check(what: string): void {
    if (this.problems.length > 0) throw new ConfigError(what, this.problems);
  }
}

function splitList(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
