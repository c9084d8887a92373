import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { GATEWAY_NODE_FLAGS } from "@threadline/gateway/node-flags";
import { POOL_NAMES } from "../../services/demo/src/agents/pools.ts";
import { agentPasswordVariable, renderAccounts } from "../nats/permissions.ts";
import {
  DATA_DIR,
  devToken,
  ensureDevSecret,
  GATEWAY_PORT,
  GATEWAY_URL,
  LAUNCHER_FILE,
  type LauncherInfo,
  NATS_GATEWAY,
  NATS_MONITOR_PORT,
  NATS_NOTIFIER,
  NATS_PASSWORDS,
  NATS_PORT,
  NATS_PRESENCE,
  NATS_SYS,
  NATS_URL,
  NOTIFIER_PORT,
  PRESENCE_PORT,
  ROOT,
  removeLauncherFile,
  runningLauncher,
  VAPID_SUBJECT,
  writeLauncherFile,
} from "./dev-env.ts";
import { Supervisor } from "./supervisor.ts";
import { ensureVapidKeys } from "./vapid-keys.ts";

/**
 * `npm start`: a local nats-server (JetStream, a system account, data in
 * .data/nats), the gateway, the presence service, the notifier (Web Push to
 * the demo's browsers when the customer is away; its VAPID key pair made once
 * into .data/vapid-keys.json), the demo's agent pools (services/demo: triage,
 * orders, returns, research, stores) and the demo web app (built with Vite,
 * served with a dev-only token endpoint), each a child process with prefixed
 * logs, supervised (./supervisor.ts: a crashed process is restarted with
 * backoff, the others keep running). While it runs, `<dataDir>/launcher.json`
 * tells the tools where everything is. Ctrl-C stops the agents and the demo
 * server, then presence, the notifier and the gateway, then NATS.
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
function natsServerBinary(): string {
  const out = execFileSync("bash", [join(ROOT, "deploy/local/ensure-nats-server.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const path = out.trim().split("\n").at(-1)?.trim();
  if (!path) throw new Error("ensure-nats-server.sh did not print the nats-server path");
  return path;
}

const already = runningLauncher();
if (already) {
  console.error(
    `npm start is already running for ${DATA_DIR} (pid ${already.pid}); stop it first, or set THREADLINE_DATA_DIR`,
  );
  process.exit(1);
}
const { secret, source: secretSource } = ensureDevSecret();
let vapid: ReturnType<typeof ensureVapidKeys>["keys"];
try {
  vapid = ensureVapidKeys(DATA_DIR).keys;
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
const launcherInfo: LauncherInfo = {
  pid: process.pid,
  dataDir: DATA_DIR,
  natsUrl: NATS_URL,
  natsMonitorUrl: `http://127.0.0.1:${NATS_MONITOR_PORT}`,
  gatewayUrl: GATEWAY_URL,
  gatewayHttpUrl: `http://127.0.0.1:${GATEWAY_PORT}`,
  presenceMetricsUrl: `http://127.0.0.1:${PRESENCE_PORT}/metrics`,
  notifierUrl: `http://127.0.0.1:${NOTIFIER_PORT}`,
  demoUrl: `http://127.0.0.1:${DEMO_PORT}/`,
  jwtSecret: secretSource,
  cli: { servers: NATS_URL, user: NATS_GATEWAY.user, pass: NATS_GATEWAY.pass },
  processes: {},
};
const supervisor = new Supervisor({
  cwd: ROOT,
  echo: process.env.THREADLINE_QUIET !== "1",
  // launcher.json always names the current pid of every process (tests and tools read it).
  onPids: (pids) => {
    if (shuttingDown) return;
    launcherInfo.processes = pids;
    writeLauncherFile(launcherInfo);
  },
});
/** How long each process may take to stop before SIGKILL; three tiers (agents and demo, gateway/presence/notifier, NATS): under 5 s in all. */
const STOP_MS = { agents: 1500, services: 1500, nats: 1500 };

let shuttingDown = false;
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  removeLauncherFile();
  await supervisor.stop();
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(0));
// Children run in their own process groups: whatever ends the launcher must not leave them behind.
process.on("exit", () => supervisor.killAll());
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
  await supervisor.start({
    name: "nats",
    tier: 0,
    stopMs: STOP_MS.nats,
    command: nats,
    args: [
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
    env: { ...NATS_PASSWORDS, ...natsConf.passwords },
    readyLine: /Server is ready/,
  });
  const tsx = ["--import", "tsx"];
  const common = { NATS_URL, THREADLINE_JWT_SECRET: secret };
  /** A Threadline service (tier 1) from `services/<name>/src/main.ts`. */
  const service = (name: string, env: Record<string, string>) =>
    supervisor.start({
      name,
      tier: 1,
      stopMs: STOP_MS.services,
      command: process.execPath,
      args: [...(name === "gateway" ? GATEWAY_NODE_FLAGS : []), ...tsx, `services/${name}/src/main.ts`],
      env,
      readyLine: new RegExp(`${name}-ready`),
    });
  await service("gateway", {
    ...common,
    NATS_USER: NATS_GATEWAY.user,
    NATS_PASS: NATS_GATEWAY.pass,
    THREADLINE_GATEWAY_PORT: String(GATEWAY_PORT),
    THREADLINE_GATEWAY_HOST: "127.0.0.1",
    // The demo's pages (served on DEMO_PORT) open the socket and read the HTTP API (CORS) from another origin.
    THREADLINE_ALLOWED_ORIGINS:
      process.env.THREADLINE_ALLOWED_ORIGINS ?? `http://127.0.0.1:${DEMO_PORT},http://localhost:${DEMO_PORT}`,
    // Stopped by the launcher within STOP_MS.services: do not wait for sockets longer than that.
    THREADLINE_DRAIN_TIMEOUT_MS: String(STOP_MS.services + 500),
    // GET /v1/push/vapid-public-key: what the demo's "Notify me" subscribes with.
    THREADLINE_VAPID_PUBLIC_KEY: vapid.publicKey,
  });
  await service("presence", {
    ...common,
    NATS_USER: NATS_PRESENCE.user,
    NATS_PASS: NATS_PRESENCE.pass,
    NATS_SYS_USER: NATS_SYS.user,
    NATS_SYS_PASS: NATS_SYS.pass,
    // Only the gateway may create the stream and buckets (deploy/nats permissions).
    THREADLINE_PROVISION: "false",
    THREADLINE_PRESENCE_PORT: String(PRESENCE_PORT),
  });
  await service("notifier", {
    NATS_URL,
    NATS_USER: NATS_NOTIFIER.user,
    NATS_PASS: NATS_NOTIFIER.pass,
    // The gateway made the stream and buckets; the notifier's NATS user may not (deploy/nats permissions).
    THREADLINE_PROVISION: "false",
    THREADLINE_NOTIFIER_ID: "local",
    THREADLINE_NOTIFIER_PORT: String(NOTIFIER_PORT),
    THREADLINE_VAPID_PUBLIC_KEY: vapid.publicKey,
    THREADLINE_VAPID_PRIVATE_KEY: vapid.privateKey,
    THREADLINE_VAPID_SUBJECT: VAPID_SUBJECT,
    // A click on a notification opens the conversation in the demo (its service worker adds the user).
    THREADLINE_NOTIFY_OPEN_URL: `http://127.0.0.1:${DEMO_PORT}/?session={session}`,
  });
  // The demo's agent pools replace the example agent (both would answer every input as entry pools).
  await Promise.all(
    POOL_NAMES.map((pool) =>
      supervisor.start({
        name: pool,
        tier: 2,
        stopMs: STOP_MS.agents,
        command: process.execPath,
        args: [...tsx, "services/demo/src/agents/main.ts", pool],
        env: { NATS_URL, NATS_USER: pool, NATS_PASS: natsConf.passwords[agentPasswordVariable(pool)]! },
        readyLine: /agent-ready/,
      }),
    ),
  );
  console.log("[demo] building the web app (vite build)…");
  execFileSync(process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "warn"], {
    cwd: join(ROOT, "services/demo"),
    stdio: ["ignore", "inherit", "inherit"],
  });
  await supervisor.start({
    name: "demo",
    tier: 2,
    stopMs: STOP_MS.agents,
    command: process.execPath,
    args: [...tsx, "services/demo/src/server/main.ts"],
    env: { ...common, THREADLINE_URL: GATEWAY_URL, DEMO_PORT: String(DEMO_PORT) },
    readyLine: /demo-ready/,
  });
  supervisor.booted();
  const token = await devToken("demo-user", { secret });
  console.log(`
Threadline is running.
  NATS         ${NATS_URL}  (monitoring http://127.0.0.1:${NATS_MONITOR_PORT}, data in ${relative(ROOT, join(DATA_DIR, "nats")) || "."})
  Gateway      ${GATEWAY_URL}  (health http://127.0.0.1:${GATEWAY_PORT}/readyz, metrics /metrics)
  Presence     join/leave events in every session (metrics http://127.0.0.1:${PRESENCE_PORT}/metrics)
  Notifier     Web Push when the customer is away (health http://127.0.0.1:${NOTIFIER_PORT}/healthz, metrics /metrics)
  Agents       ${POOL_NAMES.join(", ")} (services/demo/src/agents, one process and NATS user each)

Open the demo (an electronics shop's support chat):
  Customer     http://127.0.0.1:${DEMO_PORT}/          (open it in two tabs: one session, every device in sync)
  Operator     http://127.0.0.1:${DEMO_PORT}/operator  (take over a conversation, write to the customer, hand back)
  (dev only: the demo server hands out tokens to anyone at /api/token)

Get a notification: in the customer view click "Notify me" and allow notifications, ask
"Research the Aurora headphones and compare them", close the tab while it works; ~5 s after
the answer is ready the browser shows "Your answer is ready" — click it, the conversation opens
where it was. (Chrome, Edge or Firefox, not a private window; the browser must reach its push service.)

Chat from a terminal (run it in two terminals to see two devices share one session):
  npm run example:chat -- my-session

A token for user "demo-user" (12 h), for your own clients:
  ${token}

Settings for the tools (terminal chat, npm run token, threadline): ${relative(ROOT, LAUNCHER_FILE) || LAUNCHER_FILE}
A crashed process is restarted (backoff 250 ms doubling to 10 s); Ctrl-C stops everything.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
}
