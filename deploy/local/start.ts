import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
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
 * .data/nats), the gateway, the presence service and the example agent, each
 * a child process with prefixed logs.
 * Ctrl-C stops them gracefully.
 */
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
  await start(
    "nats",
    nats,
    [
      "-c",
      join(ROOT, "deploy/local/nats.conf"),
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
    NATS_PASSWORDS,
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
  await start("agent", process.execPath, [...tsx, "deploy/local/example-agent.ts"], common, /agent-ready/);
  const token = await devToken("demo-user");
  console.log(`
Threadline is running.
  NATS         ${NATS_URL}  (monitoring http://127.0.0.1:${NATS_MONITOR_PORT}, data in .data/nats)
  Gateway      ${GATEWAY_URL}  (health http://127.0.0.1:${GATEWAY_PORT}/readyz, metrics /metrics)
  Presence     join/leave events in every session (metrics http://127.0.0.1:${PRESENCE_PORT}/metrics)
  Agent        example-agent answers every input with a streamed reply

Chat from a terminal (run it in two terminals to see two devices share one session):
  npm run example:chat -- my-session

A token for user "demo-user" (12 h), for your own clients:
  ${token}

Ctrl-C stops everything.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
}
