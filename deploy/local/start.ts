import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { POOL_NAMES } from "../../services/demo/src/agents/pools.ts";
import { agentPasswordVariable, renderAccounts } from "../nats/permissions.ts";
import {
  DATA_DIR,
  devSecret,
  devToken,
  GATEWAY_PORT,
  GATEWAY_URL,
  NATS_GATEWAY,
  NATS_MONITOR_PORT,
  NATS_PASSWORDS,
  NATS_PORT,
  NATS_PRESENCE,
  NATS_SYS,
  NATS_URL,
  PRESENCE_PORT,
  ROOT,
} from "./dev-env.ts";

/**
 * `npm start`: a local nats-server (JetStream, a system account, data in
 * .data/nats), the gateway, the presence service, the demo's agent pools
 * (services/demo: triage, orders, returns, research, stores) and the demo web
 * app (built with Vite, served with a dev-only token endpoint), each a child
 * process with prefixed logs.
 * Ctrl-C stops them gracefully.
 */
const DEMO_PORT = Number(process.env.DEMO_PORT ?? 5173);

/**
 * nats.conf with the shipped permission model rendered for the demo's agents
 * too (one least-privilege NATS user per pool), written to .data; returns its
 * path and the agents' development passwords (`$TL_NATS_AGENT_<ID>_PASS`).
 */
function natsConfig(): { path: string; passwords: Record<string, string> } {
  const agents = ["example-agent", ...POOL_NAMES];
  mkdirSync(DATA_DIR, { recursive: true });
  writeFileSync(join(DATA_DIR, "accounts.conf"), renderAccounts({ agents }));
  const base = readFileSync(join(ROOT, "deploy/local/nats.conf"), "utf8");
  const path = join(DATA_DIR, "nats.conf");
  writeFileSync(path, base.replace('include "../nats/accounts.conf"', 'include "accounts.conf"'));
  const passwords: Record<string, string> = {};
  for (const id of POOL_NAMES)
    passwords[agentPasswordVariable(id)] = process.env[agentPasswordVariable(id)] ?? `${id}-dev`;
  return { path, passwords };
}
const children: { name: string; proc: ChildProcess }[] = [];

function natsServerBinary(): string {
  const out = execFileSync("bash", [join(ROOT, "deploy/local/ensure-nats-server.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const path = out.trim().split("\n").at(-1)?.trim();
  if (!path) throw new Error("ensure-nats-server.sh did not print the nats-server path");
  return path;
}

function start(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  readyLine: RegExp,
): Promise<ChildProcess> {
  const proc = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push({ name, proc });
  return new Promise((resolve, reject) => {
    let ready = false;
    const onLine = (line: string) => {
      if (!ready && readyLine.test(line)) {
        ready = true;
        resolve(proc);
      }
      if (process.env.THREADLINE_QUIET !== "1") console.log(`[${name}] ${line}`);
    };
    createInterface({ input: proc.stdout! }).on("line", onLine);
    createInterface({ input: proc.stderr! }).on("line", onLine);
    proc.on("exit", (code, signal) => {
      if (!ready) reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      else if (!shuttingDown) {
        console.error(`[${name}] exited unexpectedly (code ${code}, signal ${signal}); stopping`);
        void shutdown(1);
      }
    });
  });
}

let shuttingDown = false;
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const { proc } of [...children].reverse()) {
    if (proc.exitCode !== null || proc.signalCode !== null) continue;
    proc.kill("SIGTERM");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        resolve();
      }, 10_000);
      proc.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
// npm does not forward SIGTERM to scripts: if our parent goes away, stop the children too.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown(0);
}, 1000).unref();

try {
  const nats = natsServerBinary();
  const store = join(DATA_DIR, "nats");
  mkdirSync(store, { recursive: true });
  const natsConf = natsConfig();
  await start(
    "nats",
    nats,
    [
      "-c",
      natsConf.path,
      "-a",
      "127.0.0.1",
      "-p",
      String(NATS_PORT),
      "-m",
      String(NATS_MONITOR_PORT),
      "-js",
      "-sd",
      store,
    ],
    { ...NATS_PASSWORDS, ...natsConf.passwords },
    /Server is ready/,
  );
  const tsx = ["--import", "tsx"];
  const common = { NATS_URL, THREADLINE_JWT_SECRET: devSecret() };
  await start(
    "gateway",
    process.execPath,
    [...tsx, "services/gateway/src/main.ts"],
    {
      ...common,
      NATS_USER: NATS_GATEWAY.user,
      NATS_PASS: NATS_GATEWAY.pass,
      THREADLINE_GATEWAY_PORT: String(GATEWAY_PORT),
      THREADLINE_GATEWAY_HOST: "127.0.0.1",
      // The demo's pages (served on DEMO_PORT) open the socket and read the HTTP API (CORS) from another origin.
      THREADLINE_ALLOWED_ORIGINS:
        process.env.THREADLINE_ALLOWED_ORIGINS ?? `http://127.0.0.1:${DEMO_PORT},http://localhost:${DEMO_PORT}`,
    },
    /gateway-ready/,
  );
  await start(
    "presence",
    process.execPath,
    [...tsx, "services/presence/src/main.ts"],
    {
      ...common,
      NATS_USER: NATS_PRESENCE.user,
      NATS_PASS: NATS_PRESENCE.pass,
      NATS_SYS_USER: NATS_SYS.user,
      NATS_SYS_PASS: NATS_SYS.pass,
      // Only the gateway may create the stream and buckets (deploy/nats permissions).
      THREADLINE_PROVISION: "false",
      THREADLINE_PRESENCE_PORT: String(PRESENCE_PORT),
    },
    /presence-ready/,
  );
  // The demo's agent pools replace the example agent (both would answer every input as entry pools).
  await Promise.all(
    POOL_NAMES.map((pool) =>
      start(
        pool,
        process.execPath,
        [...tsx, "services/demo/src/agents/main.ts", pool],
        { NATS_URL, NATS_USER: pool, NATS_PASS: natsConf.passwords[agentPasswordVariable(pool)]! },
        /agent-ready/,
      ),
    ),
  );
  console.log("[demo] building the web app (vite build)…");
  execFileSync(process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "warn"], {
    cwd: join(ROOT, "services/demo"),
    stdio: ["ignore", "inherit", "inherit"],
  });
  await start(
    "demo",
    process.execPath,
    [...tsx, "services/demo/src/server/main.ts"],
    { ...common, THREADLINE_URL: GATEWAY_URL, DEMO_PORT: String(DEMO_PORT) },
    /demo-ready/,
  );
  const token = await devToken("demo-user");
  console.log(`
Threadline is running.
  NATS         ${NATS_URL}  (monitoring http://127.0.0.1:${NATS_MONITOR_PORT}, data in ${relative(ROOT, join(DATA_DIR, "nats")) || "."})
  Gateway      ${GATEWAY_URL}  (health http://127.0.0.1:${GATEWAY_PORT}/readyz, metrics /metrics)
  Presence     join/leave events in every session (metrics http://127.0.0.1:${PRESENCE_PORT}/metrics)
  Agents       ${POOL_NAMES.join(", ")} (services/demo/src/agents, one process and NATS user each)

Open the demo (an electronics shop's support chat):
  Customer     http://127.0.0.1:${DEMO_PORT}/          (open it in two tabs: one session, every device in sync)
  Operator     http://127.0.0.1:${DEMO_PORT}/operator  (take over a conversation, write to the customer, hand back)
  (dev only: the demo server hands out tokens to anyone at /api/token)

Chat from a terminal (run it in two terminals to see two devices share one session):
  npm run example:chat -- my-session

A token for user "demo-user" (12 h), for your own clients:
  ${token}

Ctrl-C stops everything.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
}
