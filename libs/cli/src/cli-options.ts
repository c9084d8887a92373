import { parseArgs } from "node:util";
import {
  DEFAULT_LIVE_PREFIX,
  DEFAULT_PRESENCE_BUCKET,
  DEFAULT_STREAM_NAME,
  DEFAULT_SUBJECT_PREFIX,
} from "@threadline/protocol";

/** A command line the CLI cannot run (unknown flag, missing argument…): printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Where and how to reach Threadline's NATS (flags override the environment). */
export interface ConnectionSettings {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** Path of a NATS `.creds` file (JWT + nkey seed). */
  creds?: string;
  stream: string;
  prefix: string;
  livePrefix: string;
  presenceBucket: string;
  cursorBucket: string;
  controlBucket: string;
}

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/** Flags every command takes. */
export const CONNECTION_FLAGS = {
  server: { type: "string", short: "s" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  creds: { type: "string" },
  stream: { type: "string" },
  prefix: { type: "string" },
  "live-prefix": { type: "string" },
  "presence-bucket": { type: "string" },
  "cursor-bucket": { type: "string" },
  "control-bucket": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, OptionSpec>;

export const CONNECTION_HELP = `Connection (flags override the environment):
  -s, --server <urls>       NATS URL(s), comma separated   [NATS_URL, else a running npm start's (.data/launcher.json), else nats://127.0.0.1:4222]
      --user <name>         NATS user                      [NATS_USER]
      --password <pass>     NATS password                  [NATS_PASS or NATS_PASSWORD]
      --token <token>       NATS token                     [NATS_TOKEN]
      --creds <file>        NATS credentials file (JWT)    [NATS_CREDS]
      --stream <name>       stream                         [THREADLINE_STREAM, default THREADLINE]
      --prefix <p>          subject prefix                 [THREADLINE_SUBJECT_PREFIX, default tl]
      --live-prefix <p>     republish prefix               [THREADLINE_LIVE_PREFIX, default live]
      --presence-bucket <b> presence KV bucket             [THREADLINE_PRESENCE_BUCKET, default threadline-presence]
      --cursor-bucket <b>   device cursor KV bucket        [THREADLINE_CURSOR_BUCKET, default threadline-cursors]
      --control-bucket <b>  turn/call control KV bucket    [THREADLINE_CONTROL_BUCKET, default threadline-control]
      --json                machine-readable output (JSON; tail prints one JSON object per line)`;

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** Parses `argv` (after the command name) with the connection flags plus `flags`. Throws UsageError. */
export function parseCommandLine(
  argv: readonly string[],
  flags: Record<string, OptionSpec>,
): { values: ParsedValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...CONNECTION_FLAGS, ...flags },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedValues, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Connection settings from parsed flags, falling back to `env`. Throws UsageError on invalid values. */
export function connectionSettings(values: ParsedValues, env: NodeJS.ProcessEnv): ConnectionSettings {
  const text = (flag: string, ...vars: string[]): string | undefined => {
    const value = values[flag];
    if (typeof value === "string") return value;
    for (const name of vars) if (env[name]) return env[name];
    return undefined;
  };
  const servers = (text("server", "NATS_URL") ?? "nats://127.0.0.1:4222")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0) throw new UsageError("--server needs at least one NATS URL");
  const settings: ConnectionSettings = {
    servers,
    stream: text("stream", "THREADLINE_STREAM") ?? DEFAULT_STREAM_NAME,
    prefix: text("prefix", "THREADLINE_SUBJECT_PREFIX") ?? DEFAULT_SUBJECT_PREFIX,
    livePrefix: text("live-prefix", "THREADLINE_LIVE_PREFIX") ?? DEFAULT_LIVE_PREFIX,
    presenceBucket: text("presence-bucket", "THREADLINE_PRESENCE_BUCKET") ?? DEFAULT_PRESENCE_BUCKET,
    cursorBucket: text("cursor-bucket", "THREADLINE_CURSOR_BUCKET") ?? "threadline-cursors",
    controlBucket: text("control-bucket", "THREADLINE_CONTROL_BUCKET") ?? "threadline-control",
  };
  const user = text("user", "NATS_USER");
  const pass = text("password", "NATS_PASS", "NATS_PASSWORD");
  const token = text("token", "NATS_TOKEN");
  const creds = text("creds", "NATS_CREDS");
  if (user !== undefined) settings.user = user;
  if (pass !== undefined) settings.pass = pass;
  if (token !== undefined) settings.token = token;
  if (creds !== undefined) settings.creds = creds;
  if (pass !== undefined && user === undefined) throw new UsageError("--password needs --user");
  if (creds !== undefined && (user !== undefined || token !== undefined)) {
    throw new UsageError("--creds cannot be combined with --user or --token");
  }
  return settings;
}

/** A non-negative integer flag value, or `fallback` when absent. Throws UsageError. */
export function integerFlag(values: ParsedValues, flag: string, fallback: number): number {
  const value = values[flag];
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A duration flag (`90s`, `15m`, `2h`, `500ms`, or plain seconds) in milliseconds. Throws UsageError. */
export function durationFlag(values: ParsedValues, flag: string, fallbackMs: number): number {
  const value = values[flag];
  if (value === undefined) return fallbackMs;
  const match = typeof value === "string" ? /^(\d+)(ms|s|m|h|d)?$/.exec(value) : null;
  if (!match) throw new UsageError(`--${flag} must be a duration like 90s, 15m, 2h; got ${JSON.stringify(value)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? "s"] as number;
  return Number(match[1]) * unit;
}
