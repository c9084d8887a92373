import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort } from "@threadline/test-kit";

/** A redis-server the bench started: loopback only, random port, its own temp dir. */
export interface RedisServer {
  readonly url: string;
  readonly pid: number;
  readonly version: string;
  /** The server's output, last 200 lines. */
  log(): string;
  /** SIGTERM (SIGKILL after 5 s), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** How long the server may take until it says it accepts connections. */
const READY_TIMEOUT_MS = 10_000;

/**
 * The redis-server binary: `ensure-redis-server.sh` finds it, or installs
 * Debian's package when running as root (like the nats-server and Chromium
 * scripts in deploy/local). Throws with the script's instructions otherwise.
 */
export function requireRedisServer(): string {
  const script = fileURLToPath(new URL("./ensure-redis-server.sh", import.meta.url));
  try {
    const out = execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    return out.trim().split("\n").pop()!;
  } catch (error) {
    throw new Error(`no redis-server for the peers bench (see the message above): ${(error as Error).message}`);
  }
}

/**
 * Starts redis-server on 127.0.0.1 and a free port with persistence off
 * (`save ""`, `appendonly no`: resumable-stream keeps no data in Redis, only
 * pub/sub and a sentinel key) and resolves once it accepts connections.
 */
export async function startRedisServer(bin = requireRedisServer()): Promise<RedisServer> {
  const version = /v=([\d.]+)/.exec(execFileSync(bin, ["--version"], { encoding: "utf8" }))?.[1] ?? "unknown";
  const dir = mkdtempSync(join(tmpdir(), "tl-bench-redis-"));
  const port = await freePort();
  const child = spawn(
    bin,
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--protected-mode",
      "yes",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const lines: string[] = [];
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 200) lines.shift();
    if (line.includes("Ready to accept connections")) ready();
  };
  createInterface({ input: child.stdout }).on("line", onLine);
  createInterface({ input: child.stderr }).on("line", onLine);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      readyPromise,
      exited.then(() => {
        throw new Error(`redis-server exited before it was ready:\n${lines.join("\n")}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`redis-server not ready in ${READY_TIMEOUT_MS} ms:\n${lines.join("\n")}`)),
          READY_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid!, version, log: () => lines.join("\n"), stop };
}
