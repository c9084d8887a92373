import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { TEST_JWT_SECRET } from "./tokens.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A Threadline service (gateway, presence, a test's worker or agent) started as its own process, past its ready log line. */
export interface ServiceProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The ready log line, parsed (e.g. `{ msg: "gateway-ready", port }`). */
  readonly ready: Record<string, unknown>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Sends `signal` unless the process already exited; resolves once it has. */
  signal(signal: NodeJS.Signals): Promise<void>;
  /** The last `keepLines` lines of stdout (and stderr unless inherited). */
  log(): string;
}

export interface SpawnServiceOptions {
  /** Used in the error when the process exits before it is ready, e.g. `"gateway"`. */
  name: string;
  /** The program and its arguments; run in the repository root. */
  command: string;
  args: string[];
  /** Added to the test process's environment. */
  env: Record<string, string>;
  /** The service is ready once a JSON log line contains `"<readyEvent>"`, e.g. `gateway-ready`. */
  readyEvent: string;
  /** Log lines kept (older ones are dropped). Default 2000. */
  keepLines?: number;
  /** Let the process write its stderr to the test's (it is not in `log()` then). Default false. */
  inheritStderr?: boolean;
  /**
   * Called with the pid right after the spawn (before the service is ready),
   * e.g. to kill it when the runner exits; what it returns runs when the process exits.
   */
  onSpawn?: (pid: number) => (() => void) | undefined;
}

/**
 * Spawns a service and resolves once it printed its ready line; rejects with
 * the log when it exits before that.
 */
export async function spawnService(options: SpawnServiceOptions): Promise<ServiceProcess> {
  const proc = spawn(options.command, options.args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", options.inheritStderr ? "inherit" : "pipe"],
  });
  const pid = proc.pid as number;
  const onExit = options.onSpawn?.(pid);
  const keep = options.keepLines ?? 2000;
  const lines: string[] = [];
  const exited = new Promise<void>((r) =>
    proc.once("exit", () => {
      onExit?.();
      r();
    }),
  );
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > keep) lines.shift();
      if (line.includes(`"${options.readyEvent}"`)) resolveReady(JSON.parse(line));
    };
    createInterface({ input: proc.stdout as Readable }).on("line", onLine);
    if (proc.stderr) createInterface({ input: proc.stderr }).on("line", onLine);
    proc.once("exit", (code) =>
      reject(new Error(`${options.name} exited (${code}) before ready:\n${lines.join("\n")}`)),
    );
  });
  return {
    proc,
    pid,
    ready,
    exited,
    async signal(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
    log: () => lines.join("\n"),
  };
}

/** The environment of a gateway process for tests: NATS at `natsUrl`, the test JWT secret, 127.0.0.1 on a free port. */
export function gatewayProcessEnv(natsUrl: string, logLevel: string): Record<string, string> {
  return {
    NATS_URL: natsUrl,
    THREADLINE_JWT_SECRET: TEST_JWT_SECRET,
    THREADLINE_GATEWAY_HOST: "127.0.0.1",
    THREADLINE_GATEWAY_PORT: "0",
    LOG_LEVEL: logLevel,
  };
}
