import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Test-only: a real `nats-server` with JetStream on a free loopback port and
 * a fresh store directory. Not exported from the package entry; the shared
 * test kit (test/kit) is the general-purpose version.
 */
export interface TestNats extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** The server's output so far (for failure messages). */
  log(): string;
  /** Stops the server (SIGTERM) and starts it again on the same port and store dir. */
  restart(): Promise<void>;
  /** Stops the server and removes its store dir. Idempotent. */
  stop(): Promise<void>;
}

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
const READY_TIMEOUT_MS = 10_000;

export async function startTestNats(): Promise<TestNats> {
  const storeDir = await mkdtemp(join(tmpdir(), "threadline-agent-nats-"));
  const port = await freePort();
  let output = "";
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const proc = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`nats-server not ready within ${READY_TIMEOUT_MS} ms:\n${output}`));
      }, READY_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (code ${code}, signal ${signal}) before it was ready:\n${output}`));
      });
      proc.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  };

  const halt = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await halt();
    await rm(storeDir, { recursive: true, force: true });
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    log: () => output,
    async restart() {
      await halt();
      output += "\n--- restart ---\n";
      await launch();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
