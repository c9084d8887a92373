import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@threadline/client";
import { freePorts, waitFor } from "@threadline/test-kit";
import { afterAll, expect, onTestFailed, test } from "vitest";
import WebSocket from "ws";
import { chatOnce, type LauncherJson, ROOT, readLauncher, runTool, startChat, toolEnv } from "./support/local-tools.ts";

// The README's first command, as a user runs it: `npm start` (nats-server,
// gateway, presence, the notifier, the demo's agent pools and web app, each a
// process), here on free ports and a fresh data directory. A customer message
// sent through the gateway gets the demo agent's streamed reply; the notifier
// answers its health check and the gateway serves the VAPID key the notifier
// signs with (kept in the data directory); the tools find the stack with only
// THREADLINE_DATA_DIR set; a SIGKILLed gateway, notifier, agent or
// nats-server is restarted while the others keep running; Ctrl-C (SIGINT to
// the foreground process group) stops every process within 5 s and without
// warnings.

const dataDir = mkdtempSync(join(tmpdir(), "threadline-npm-start-"));
const emptyDataDir = mkdtempSync(join(tmpdir(), "threadline-npm-start-empty-"));
let proc: ChildProcess | undefined;
const output: string[] = [];
/** Every pid the launcher reported: the children run in their own process groups. */
const seenPids = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function launcher(): LauncherJson {
  const info = readLauncher(dataDir);
  for (const pid of Object.values(info.processes)) seenPids.add(pid);
  return info;
}

afterAll(async () => {
  if (proc?.exitCode === null && proc.signalCode === null && proc.pid) {
    const exited = new Promise((r) => proc!.once("exit", r));
    process.kill(-proc.pid, "SIGKILL");
    await exited;
  }
  for (const pid of seenPids) if (alive(pid)) process.kill(-pid, "SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(emptyDataDir, { recursive: true, force: true });
});

/** Whether anything still accepts HTTP requests at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs the launcher's process `name`; waits for its restart and checks that no other process was touched. */
async function killAndAwaitRestart(name: string): Promise<void> {
  const before = launcher().processes;
  process.kill(before[name]!, "SIGKILL");
  await waitFor(() => output.some((l) => l.startsWith(`[launcher] ${name} restarted (pid `)), {
    timeoutMs: 30_000,
    message: `the launcher did not restart ${name}`,
  });
  expect(output).toContain(`[launcher] ${name} exited (signal SIGKILL); restarting in 250 ms`);
  const after = launcher().processes;
  expect(after[name]).not.toBe(before[name]);
  for (const other of Object.keys(before).filter((n) => n !== name)) {
    expect(after[other], `${other} kept running`).toBe(before[other]);
    expect(alive(before[other]!), `${other} alive`).toBe(true);
  }
}

test("npm start runs the whole system, the tools find it, crashed processes come back, Ctrl-C stops it all in < 5 s", async () => {
  onTestFailed(() => console.error(output.slice(-80).join("\n")));
  const [natsPort, natsMonitor, gatewayPort, presencePort, notifierPort, demoPort] = (await freePorts(6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  proc = spawn("npm", ["start"], {
    cwd: ROOT,
    detached: true, // its own process group: the test can stop npm and everything it started
    env: {
      ...process.env,
      THREADLINE_NATS_PORT: String(natsPort),
      THREADLINE_NATS_MONITOR_PORT: String(natsMonitor),
      THREADLINE_GATEWAY_PORT: String(gatewayPort),
      THREADLINE_PRESENCE_PORT: String(presencePort),
      THREADLINE_NOTIFIER_PORT: String(notifierPort),
      DEMO_PORT: String(demoPort),
      THREADLINE_DATA_DIR: dataDir,
      // The simulated model: no API key, deterministic replies.
      AI_GATEWAY_API_KEY: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => proc!.once("exit", () => r()));
  createInterface({ input: proc.stdout! }).on("line", (l) => output.push(l));
  createInterface({ input: proc.stderr! }).on("line", (l) => output.push(l));
  await waitFor(() => output.some((l) => l.includes("Threadline is running.")), {
    timeoutMs: 150_000,
    intervalMs: 100,
    message: "npm start did not report that Threadline is running",
  });
  const banner = output.join("\n");
  expect(banner).toContain(`ws://127.0.0.1:${gatewayPort}/v1/ws`);
  expect(banner).toContain(`http://127.0.0.1:${demoPort}/operator`);
  expect(banner).toContain(`http://127.0.0.1:${notifierPort}/healthz`);
  expect(banner).toContain('click "Notify me"');

  // launcher.json: the current pid of every process, the URLs, where the secret is (not the secret), owner-only.
  const info = launcher();
  expect(statSync(join(dataDir, "launcher.json")).mode & 0o777).toBe(0o600);
  expect(info.gatewayUrl).toBe(`ws://127.0.0.1:${gatewayPort}/v1/ws`);
  expect(Object.keys(info.processes)).toEqual(
    expect.arrayContaining(["nats", "gateway", "presence", "notifier", "triage", "orders", "demo"]),
  );
  const secret = readFileSync(join(dataDir, "dev-jwt-secret"), "utf8").trim();
  expect(readFileSync(join(dataDir, "launcher.json"), "utf8")).not.toContain(secret);

  expect((await fetch(`http://127.0.0.1:${gatewayPort}/readyz`)).status).toBe(200);
  // Offline delivery: the notifier runs; the gateway serves the public half of the pair generated into the
  // data directory (owner-only), which the notifier signs with.
  expect((await fetch(`http://127.0.0.1:${notifierPort}/healthz`)).status).toBe(200);
  const vapidFile = join(dataDir, "vapid-keys.json");
  expect(statSync(vapidFile).mode & 0o777).toBe(0o600);
  const vapid = JSON.parse(readFileSync(vapidFile, "utf8")) as { publicKey: string; privateKey: string };
  const served = await fetch(`http://127.0.0.1:${gatewayPort}/v1/push/vapid-public-key`);
  expect(served.status).toBe(200);
  expect(await served.json()).toEqual({ publicKey: vapid.publicKey });
  expect(readFileSync(join(dataDir, "launcher.json"), "utf8")).not.toContain(vapid.privateKey);
  const sw = await fetch(`http://127.0.0.1:${demoPort}/sw.js`);
  expect([sw.status, sw.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
  const page = await fetch(`http://127.0.0.1:${demoPort}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/<div id="root">|<script/);
  const first = await chatOnce(gatewayPort, demoPort, "npm-start-smoke", "smoke-customer");
  expect(first.reply.author.kind).toBe("agent");
  expect(first.members.some((m) => m.kind === "user" && m.id === "smoke-customer")).toBe(true);

  // The tools with only THREADLINE_DATA_DIR set (a new user's second terminal: no ports, no secret, no NATS user).
  const env = toolEnv(dataDir);
  const minted = await runTool("deploy/local/mint-token.ts", ["--user", "tool-user"], env);
  expect(minted.code, minted.stderr).toBe(0);
  const toolClient = createClient({ url: info.gatewayUrl, token: minted.stdout.trim(), WebSocket: WebSocket as never });
  await toolClient.attach("npm-start-smoke");
  await toolClient.close();
  const chat = startChat("npm-start-smoke", env);
  await waitFor(() => chat.lines.some((l) => l.includes("[session npm-start-smoke")), {
    timeoutMs: 20_000,
    message: `the terminal chat did not sync: ${chat.lines.join("\n")}`,
  });
  expect(chat.lines.join("\n")).toContain(`[connected to ws://127.0.0.1:${gatewayPort}/v1/ws as demo-user/`);
  // Regression: progress lines printed `[progress #661]` without the step's label.
  expect(chat.lines.join("\n")).not.toMatch(/\[progress #\d+\]/);
  chat.proc.stdin!.end();
  expect(await chat.exited).toBe(0);
  const inspected = await runTool("libs/cli/src/main.ts", ["inspect", "npm-start-smoke"], env);
  expect(inspected.code, inspected.stderr).toBe(0);
  expect(inspected.stdout).toContain("session npm-start-smoke");

  // Regression: with the wrong data directory the chat crashed with a stack trace and created a second secret.
  const lost = toolEnv(emptyDataDir);
  for (const [script, args] of [
    ["deploy/local/chat.ts", ["npm-start-smoke"]],
    ["deploy/local/mint-token.ts", ["--user", "x"]],
  ] as const) {
    const run = await runTool(script, [...args], lost);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("THREADLINE_DATA_DIR");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }
  expect(existsSync(join(emptyDataDir, "dev-jwt-secret"))).toBe(false);
  // A token the gateway refuses (another secret): one typed line, no stack trace.
  const refused = await runTool("deploy/local/chat.ts", ["npm-start-smoke"], {
    ...env,
    THREADLINE_JWT_SECRET: "not-the-secret-of-this-npm-start-0123456789",
  });
  expect(refused.code).not.toBe(0);
  expect(refused.stderr.trim().split("\n")).toEqual([
    expect.stringMatching(/^chat: AUTH_FAILED: .*THREADLINE_DATA_DIR/),
  ]);

  // Regression: a SIGKILLed gateway made the launcher stop everything. Now it is restarted (one line each),
  // NATS and the rest keep their pids, and chat works again; an agent and nats-server itself likewise.
  await killAndAwaitRestart("gateway");
  const again = await chatOnce(gatewayPort, demoPort, "npm-start-after-crash", "smoke-customer");
  expect(again.reply.author.kind).toBe("agent");
  await killAndAwaitRestart("triage");
  await killAndAwaitRestart("notifier");
  await waitFor(async () => (await answers(`http://127.0.0.1:${notifierPort}/healthz`)) === true, {
    timeoutMs: 20_000,
    message: "the restarted notifier does not answer /healthz",
  });
  await killAndAwaitRestart("nats");
  const afterNats = await chatOnce(gatewayPort, demoPort, "npm-start-after-nats", "smoke-customer");
  expect(afterNats.reply.author.kind).toBe("agent");

  // Ctrl-C: the terminal sends SIGINT to the whole foreground group (npm and the launcher; the
  // children run in their own groups and are stopped in order: agents, presence, gateway, NATS).
  const ctrlC = Date.now();
  const linesBeforeCtrlC = output.length;
  process.kill(-proc.pid!, "SIGINT");
  await exited;
  expect(Date.now() - ctrlC).toBeLessThan(5000);
  const shutdownLog = output.slice(linesBeforeCtrlC).join("\n");
  // Regression: ~25 s of "NATS is unavailable" warnings after Ctrl-C (NATS went first).
  expect(shutdownLog).not.toMatch(/Error:|"level":"(warn|error)"|"level":(40|50)|\[WRN\]|\[ERR\]|unavailable/i);
  expect(existsSync(join(dataDir, "launcher.json"))).toBe(false);
  for (const pid of seenPids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  expect(await answers(`http://127.0.0.1:${gatewayPort}/readyz`)).toBe(false);
  expect(await answers(`http://127.0.0.1:${demoPort}/`)).toBe(false);
  expect(await answers(`http://127.0.0.1:${notifierPort}/healthz`)).toBe(false);
  expect(await answers(`http://127.0.0.1:${natsMonitor}/healthz`)).toBe(false);
}, 240_000);
