import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";

/** Local development settings shared by `npm start`, the example agent and the terminal chat. */
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
  TL_NATS_SYS_PASS: process.env.TL_NATS_SYS_PASS ?? "sys-dev",
  TL_NATS_AGENT_EXAMPLE_AGENT_PASS: process.env.TL_NATS_AGENT_EXAMPLE_AGENT_PASS ?? "example-agent-dev",
};
export const NATS_GATEWAY = { user: "gateway", pass: NATS_PASSWORDS.TL_NATS_GATEWAY_PASS };
export const NATS_PRESENCE = { user: "presence", pass: NATS_PASSWORDS.TL_NATS_PRESENCE_PASS };
/** System-account user: the presence service's disconnect advisories. */
export const NATS_SYS = { user: "sys", pass: NATS_PASSWORDS.TL_NATS_SYS_PASS };
/** The example agent: may publish only as `example-agent`. */
export const NATS_EXAMPLE_AGENT = { user: "example-agent", pass: NATS_PASSWORDS.TL_NATS_AGENT_EXAMPLE_AGENT_PASS };
export const PRESENCE_PORT = Number(process.env.THREADLINE_PRESENCE_PORT ?? 8081);
export const GATEWAY_PORT = Number(process.env.THREADLINE_GATEWAY_PORT ?? 8080);
export const GATEWAY_URL = process.env.THREADLINE_URL ?? `ws://127.0.0.1:${GATEWAY_PORT}/v1/ws`;

/**
 * The HS256 secret of the local stack: THREADLINE_JWT_SECRET if set, else a
 * random one generated once into `.data/dev-jwt-secret` (git-ignored).
 */
export function devSecret(): string {
  if (process.env.THREADLINE_JWT_SECRET) return process.env.THREADLINE_JWT_SECRET;
  const file = join(DATA_DIR, "dev-jwt-secret");
  if (!existsSync(file)) {
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("hex"), { mode: 0o600 });
  }
  return readFileSync(file, "utf8").trim();
}

/** Mints a token for the local stack (development only: real deployments mint tokens in their own backend). */
export async function devToken(
  sub: string,
  options: { role?: string; sessions?: string; ttlSeconds?: number } = {},
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
    .sign(new TextEncoder().encode(devSecret()));
}
