import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { TEST_JWT_SECRET } from "./tokens.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A gateway running as its own process (so it can be SIGKILLed and its memory measured). */
export interface GatewayProcess extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Resident set size in bytes, from /proc. */
  rss(): number;
  /** SIGKILL, resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful drain), resolves when the process exited. */
  stop(): Promise<void>;
  log(): string;
}

export async function spawnGateway(natsUrl: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", "services/gateway/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      THREADLINE_JWT_SECRET: TEST_JWT_SECRET,
      THREADLINE_GATEWAY_HOST: "127.0.0.1",
      THREADLINE_GATEWAY_PORT: "0",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const port = await new Promise<number>((resolvePort, reject) => {
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > 2000) lines.shift();
      if (line.includes('"gateway-ready"')) resolvePort(JSON.parse(line).port as number);
    };
    createInterface({ input: proc.stdout! }).on("line", onLine);
    createInterface({ input: proc.stderr! }).on("line", onLine);
    proc.once("exit", (code) => reject(new Error(`gateway exited (${code}) before ready:\n${lines.join("\n")}`)));
  });
  const handle: GatewayProcess = {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    port,
    pid: proc.pid!,
    rss() {
      const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb * 1024;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
    log: () => lines.join("\n"),
    [Symbol.asyncDispose]: () => handle.kill(),
  };
  return handle;
}
