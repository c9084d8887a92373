import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort, type NatsServer, startNatsServer } from "@threadline/test-kit";
import { POOL_NAMES } from "../../../services/demo/src/agents/pools.ts";
import { startDemoServer } from "../../../services/demo/src/server/demo-server.ts";
import { type GatewayProcess, spawnGateway } from "../../integration/support/gateway-process.ts";
import { type RunningPresence, startPresence } from "../../integration/support/presence.ts";
import { TEST_JWT_SECRET } from "../../integration/support/tokens.ts";
import { startUpgradeRefusingProxy } from "./upgrade-refusing-proxy.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const DEMO = join(ROOT, "services/demo");

/**
 * The whole demo for a browser test: a nats-server on random ports, the
 * gateway (a process), the presence service, the demo's agent pools (a
 * process each), and the demo web server serving a fresh `vite build`. `close()`
 * tears everything down in reverse order.
 */
export interface DemoStack {
  nats: NatsServer;
  gateway: GatewayProcess;
  /** The demo web server's base URL (customer view `/`, operator console `/operator`). */
  url: string;
  /** Recent output of the agent processes (for failure messages). */
  agentLog(): string;
  close(): Promise<void>;
}

function spawnAgent(pool: string, natsUrl: string, lines: string[]): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ["--import", "tsx", "services/demo/src/agents/main.ts", pool], {
    cwd: ROOT,
    // Always the simulated model: the tests compare exact text.
    env: { ...process.env, NATS_URL: natsUrl, AI_GATEWAY_API_KEY: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((ok, fail) => {
    const onLine = (line: string) => {
      lines.push(`[${pool}] ${line}`);
      if (lines.length > 500) lines.shift();
      if (line.includes('"agent-ready"')) ok(proc);
    };
    createInterface({ input: proc.stdout! }).on("line", onLine);
    createInterface({ input: proc.stderr! }).on("line", onLine);
    proc.once("exit", (code) => fail(new Error(`agent ${pool} exited (${code}) before ready:\n${lines.join("\n")}`)));
  });
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** Builds the web app into a fresh temp dir (each test file its own, so parallel files do not collide). */
export function buildDemo(): string {
  const out = mkdtempSync(join(tmpdir(), "threadline-demo-dist-"));
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--outDir", out, "--emptyOutDir"],
    {
      cwd: DEMO,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  return out;
}

export interface DemoStackOptions {
  /** Extra environment of the gateway process (e.g. `THREADLINE_VAPID_PUBLIC_KEY`). */
  gatewayEnv?: Record<string, string>;
  /** More host names the demo is opened under (`http://<host>:<demo port>` is allowed by the gateway too). */
  extraHosts?: readonly string[];
  /**
   * Pages are given a gateway behind a proxy that refuses every WebSocket
   * upgrade and passes HTTP through (a network that blocks WebSockets).
   */
  refuseWebSocketUpgrades?: boolean;
}

export async function startDemoStack(options: DemoStackOptions = {}): Promise<DemoStack> {
  const cleanup: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  const lines: string[] = [];
  try {
    const dist = buildDemo();
    cleanup.push(() => rmSync(dist, { recursive: true, force: true }));
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    // The gateway allows exactly the demo's origin (WebSocket and CORS), as `npm start` configures it.
    const demoPort = await freePort();
    const origins = ["127.0.0.1", ...(options.extraHosts ?? [])].map((host) => `http://${host}:${demoPort}`);
    const gateway = await spawnGateway(nats.url, {
      ...options.gatewayEnv,
      THREADLINE_ALLOWED_ORIGINS: origins.join(","),
    });
    cleanup.push(() => gateway.stop());
    const presence: RunningPresence = await startPresence(nats);
    cleanup.push(() => presence.close());
    const agents = await Promise.all(POOL_NAMES.map((pool) => spawnAgent(pool, nats.url, lines)));
    cleanup.push(() => Promise.all(agents.map(stopProcess)).then(() => {}));
    let gatewayUrl = gateway.url;
    if (options.refuseWebSocketUpgrades) {
      const proxy = await startUpgradeRefusingProxy(gateway.port);
      cleanup.push(() => proxy.close());
      gatewayUrl = proxy.wsUrl;
    }
    const server = await startDemoServer({
      port: demoPort,
      root: dist,
      gatewayUrl,
      gatewayHttpUrl: `http://127.0.0.1:${gateway.port}`,
      secret: TEST_JWT_SECRET,
    });
    cleanup.push(() => server.close());
    return { nats, gateway, url: server.url, agentLog: () => lines.join("\n"), close };
  } catch (error) {
    await close();
    throw error;
  }
}
