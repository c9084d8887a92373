import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";

/**
 * Local development settings shared by `npm start`, the example agent, the
 * terminal chat and `npm run token`. The tools find a running `npm start` of
 * the same data directory through `<dataDir>/launcher.json`.
 */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Local state (NATS store, generated config, the dev JWT secret); THREADLINE_DATA_DIR moves it (tests do). */
export const DATA_DIR = process.env.THREADLINE_DATA_DIR
  ? resolve(process.env.THREADLINE_DATA_DIR)
  : join(ROOT, ".data");
export const NATS_PORT = Number(process.env.THREADLINE_NATS_PORT ?? 4233);
export const NATS_MONITOR_PORT = Number(process.env.THREADLINE_NATS_MONITOR_PORT ?? 8233);
export const NATS_URL = process.env.NATS_URL ?? `nats://127.0.0.1:${NATS_PORT}`;
/**
 * NATS users of the local stack, from the shipped permission model
 * (deploy/nats/accounts.conf, included by deploy/local/nats.conf): each
 * service and the example agent connect as their own least-privilege user.
 * Passwords come from the `TL_NATS_*_PASS` variables nats-server also reads;
 * the fallbacks below are development defaults and exist only here.
 */
export const NATS_PASSWORDS = {
  TL_NATS_GATEWAY_PASS: process.env.TL_NATS_GATEWAY_PASS ?? "gateway-dev",
  TL_NATS_PRESENCE_PASS: process.env.TL_NATS_PRESENCE_PASS ?? "presence-dev",
  TL_NATS_NOTIFIER_PASS: process.env.TL_NATS_NOTIFIER_PASS ?? "notifier-dev",
  TL_NATS_SYS_PASS: process.env.TL_NATS_SYS_PASS ?? "sys-dev",
  TL_NATS_AGENT_EXAMPLE_AGENT_PASS: process.env.TL_NATS_AGENT_EXAMPLE_AGENT_PASS ?? "example-agent-dev",
};
export const NATS_GATEWAY = { user: "gateway", pass: NATS_PASSWORDS.TL_NATS_GATEWAY_PASS };
export const NATS_PRESENCE = { user: "presence", pass: NATS_PASSWORDS.TL_NATS_PRESENCE_PASS };
/** The notifier: reads the stream and the presence/control buckets, writes the push and notify buckets. */
export const NATS_NOTIFIER = { user: "notifier", pass: NATS_PASSWORDS.TL_NATS_NOTIFIER_PASS };
/** System-account user: the presence service's disconnect advisories. */
export const NATS_SYS = { user: "sys", pass: NATS_PASSWORDS.TL_NATS_SYS_PASS };
/** The example agent: may publish only as `example-agent`. */
export const NATS_EXAMPLE_AGENT = { user: "example-agent", pass: NATS_PASSWORDS.TL_NATS_AGENT_EXAMPLE_AGENT_PASS };
export const PRESENCE_PORT = Number(process.env.THREADLINE_PRESENCE_PORT ?? 8081);
/** The notifier's `/healthz` and `/metrics`. */
export const NOTIFIER_PORT = Number(process.env.THREADLINE_NOTIFIER_PORT ?? 8082);
/** Contact for the push services in the VAPID token (RFC 8292 `sub`); THREADLINE_VAPID_SUBJECT overrides it. */
export const VAPID_SUBJECT = process.env.THREADLINE_VAPID_SUBJECT ?? "mailto:threadline-dev@example.com";
export const GATEWAY_PORT = Number(process.env.THREADLINE_GATEWAY_PORT ?? 8080);
export const GATEWAY_URL = process.env.THREADLINE_URL ?? `ws://127.0.0.1:${GATEWAY_PORT}/v1/ws`;

/**
 * A tool (terminal chat, token minting) cannot find what it needs: one line
 * saying what to set, printed without a stack trace (see `runTool`).
 */
export class DevSetupError extends Error {
  override readonly name = "DevSetupError";
}

const SECRET_FILE = join(DATA_DIR, "dev-jwt-secret");
/** Written by `npm start` while it runs (0600: it holds development passwords); removed when it stops. */
export const LAUNCHER_FILE = join(DATA_DIR, "launcher.json");

/** What a running `npm start` tells the tools in `<dataDir>/launcher.json`. */
export interface LauncherInfo {
  /** The launcher's pid: the file counts only while this process lives. */
  pid: number;
  dataDir: string;
  natsUrl: string;
  natsMonitorUrl: string;
  gatewayUrl: string;
  gatewayHttpUrl: string;
  presenceMetricsUrl: string;
  /** The notifier's base URL (`/healthz`, `/metrics`). */
  notifierUrl: string;
  demoUrl: string;
  /** Where tokens' HS256 key comes from: this file, or the launcher's THREADLINE_JWT_SECRET. */
  jwtSecret: { file: string } | { env: "THREADLINE_JWT_SECRET" };
  /** NATS settings for `threadline` (the CLI): the gateway's user, which may read everything it inspects. */
  cli: { servers: string; user: string; pass: string };
  /** Current pid of every supervised process, rewritten on each restart. */
  processes: Record<string, number>;
}

/** Writes launcher.json atomically, readable by the owner only. */
export function writeLauncherFile(info: LauncherInfo): void {
  mkdirSync(DATA_DIR, { recursive: true });
  const tmp = `${LAUNCHER_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, LAUNCHER_FILE);
}

export function removeLauncherFile(): void {
  rmSync(LAUNCHER_FILE, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running `npm start` of this data directory, if any (a file left by a killed launcher is ignored). */
export function runningLauncher(): LauncherInfo | undefined {
  let info: LauncherInfo;
  try {
    info = JSON.parse(readFileSync(LAUNCHER_FILE, "utf8")) as LauncherInfo;
  } catch {
    return undefined;
  }
  return typeof info.pid === "number" && alive(info.pid) ? info : undefined;
}

/**
 * The gateway URL the tools use: THREADLINE_URL or THREADLINE_GATEWAY_PORT
 * when set, else the running launcher's, else the default.
 */
export function toolGatewayUrl(): string {
  if (process.env.THREADLINE_URL || process.env.THREADLINE_GATEWAY_PORT) return GATEWAY_URL;
  return runningLauncher()?.gatewayUrl ?? GATEWAY_URL;
}

const WHAT_TO_SET =
  "start `npm start` first, or set THREADLINE_DATA_DIR to the data directory of the running `npm start` (or THREADLINE_JWT_SECRET to its secret)";

/**
 * The HS256 secret of the local stack, for the tools: THREADLINE_JWT_SECRET if
 * set, else the one `npm start` generated into `<dataDir>/dev-jwt-secret`.
 * Never creates one (a second secret signs tokens no gateway accepts): throws
 * DevSetupError saying what to set instead.
 */
export function devSecret(): string {
  if (process.env.THREADLINE_JWT_SECRET) return process.env.THREADLINE_JWT_SECRET;
  const launcher = runningLauncher();
  if (launcher && "env" in launcher.jwtSecret) {
    throw new DevSetupError(
      `the running npm start (pid ${launcher.pid}) signs with THREADLINE_JWT_SECRET from its environment: set the same here`,
    );
  }
  if (!existsSync(SECRET_FILE)) throw new DevSetupError(`no development secret in ${SECRET_FILE}: ${WHAT_TO_SET}`);
  return readFileSync(SECRET_FILE, "utf8").trim();
}

/**
 * For `npm start` only: THREADLINE_JWT_SECRET if set, else the secret in
 * `<dataDir>/dev-jwt-secret`, generated once (0600, git-ignored).
 */
export function ensureDevSecret(): { secret: string; source: LauncherInfo["jwtSecret"] } {
  if (process.env.THREADLINE_JWT_SECRET) {
    return { secret: process.env.THREADLINE_JWT_SECRET, source: { env: "THREADLINE_JWT_SECRET" } };
  }
  if (!existsSync(SECRET_FILE)) {
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(SECRET_FILE, randomBytes(32).toString("hex"), { mode: 0o600 });
  }
  return { secret: readFileSync(SECRET_FILE, "utf8").trim(), source: { file: SECRET_FILE } };
}

/** Mints a token for the local stack (development only: real deployments mint tokens in their own backend). */
export async function devToken(
  sub: string,
  options: { role?: string; sessions?: string; ttlSeconds?: number; secret?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    role: options.role ?? "user",
    grants: [{ session: options.sessions ?? "*", can: ["read", "write", "control"] }],
  })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 12 * 3600))
    .sign(new TextEncoder().encode(options.secret ?? devSecret()));
}
