import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createClient } from "@threadline/client";
import { freePorts, waitFor } from "@threadline/test-kit";
import { afterAll, expect, onTestFailed, test } from "vitest";
import WebSocket from "ws";

// The README's first command, as a user runs it: `npm start` (nats-server,
// gateway, presence, the demo's agent pools and web app, each a process),
// here on free ports and a fresh data directory. A customer message sent
// through the gateway gets the demo agent's streamed reply; Ctrl-C (SIGINT
// to the foreground process group) stops every process.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const dataDir = mkdtempSync(join(tmpdir(), "threadline-npm-start-"));
let proc: ChildProcess | undefined;
const output: string[] = [];

afterAll(async () => {
  if (proc?.exitCode === null && proc.signalCode === null && proc.pid) {
    const exited = new Promise((r) => proc!.once("exit", r));
    process.kill(-proc.pid, "SIGKILL");
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
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

test("npm start runs the whole system: the demo answers a customer through the gateway, Ctrl-C stops it all", async () => {
  onTestFailed(() => console.error(output.slice(-80).join("\n")));
  const [natsPort, natsMonitor, gatewayPort, presencePort, demoPort] = await freePorts(5);
  proc = spawn("npm", ["start"], {
    cwd: ROOT,
    detached: true, // its own process group: the test can stop npm and everything it started
    env: {
      ...process.env,
      THREADLINE_NATS_PORT: String(natsPort),
      THREADLINE_NATS_MONITOR_PORT: String(natsMonitor),
      THREADLINE_GATEWAY_PORT: String(gatewayPort),
      THREADLINE_PRESENCE_PORT: String(presencePort),
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

  expect((await fetch(`http://127.0.0.1:${gatewayPort}/readyz`)).status).toBe(200);
  const page = await fetch(`http://127.0.0.1:${demoPort}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/<div id="root">|<script/);
  const { token } = (await (await fetch(`http://127.0.0.1:${demoPort}/api/token?user=smoke-customer`)).json()) as {
    token: string;
  };

  const client = createClient({ url: `ws://127.0.0.1:${gatewayPort}/v1/ws`, token, WebSocket: WebSocket as never });
  try {
    const session = await client.attach("npm-start-smoke", { from: "start" });
    await session.publish({ type: "input", data: { text: "Hi, where is my order 1042?" } });
    const reply = await waitFor(
      () =>
        session.messages.messages.find(
          (m) => m.role === "assistant" && m.status === "complete" && m.parts.some((p) => p.type === "text"),
        ),
      { timeoutMs: 30_000, message: "no complete reply from the demo's agents" },
    );
    expect(reply.author.kind).toBe("agent");
    expect(session.presence.members.some((m) => m.kind === "user" && m.id === "smoke-customer")).toBe(true);
  } finally {
    await client.close();
  }

  // Ctrl-C: the terminal sends SIGINT to the whole foreground group (npm, start.ts, every child).
  process.kill(-proc.pid!, "SIGINT");
  await exited;
  // Every process got the SIGINT at once, so agents may see nats-server go first: at most retryable
  // warnings then, no error and no stack trace.
  const shutdownLog = output.slice(output.findIndex((l) => l.includes("Ctrl-C stops everything."))).join("\n");
  expect(shutdownLog).not.toMatch(/Error:|"level":"error"|"level":50/);
  await waitFor(async () => !(await answers(`http://127.0.0.1:${gatewayPort}/readyz`)), { timeoutMs: 15_000 });
  expect(await answers(`http://127.0.0.1:${demoPort}/`)).toBe(false);
  expect(await answers(`http://127.0.0.1:${natsMonitor}/healthz`)).toBe(false);
}, 240_000);
