import { fork } from "node:child_process";
import { createInterface } from "node:readline";

/** Messages between the bench and a worker process: plain JSON objects with a `type`. */
export interface WorkerMessage {
  type: string;
  [field: string]: unknown;
}

/**
 * A helper process of a benchmark (an agent publishing, an SSE server),
 * started with tsx and driven over the Node IPC channel, so its CPU and
 * memory are its own and can be measured from /proc.
 */
export interface WorkerProcess extends AsyncDisposable {
  readonly pid: number;
  /** The worker's `ready` message. */
  readonly ready: WorkerMessage;
  send(message: WorkerMessage): void;
  /** The next message of `type` (rejects if the worker exits first or after `timeoutMs`). */
  next(type: string, timeoutMs: number): Promise<WorkerMessage>;
  /** The worker's stdout/stderr, last 500 lines. */
  log(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves when it exited. */
  stop(): Promise<void>;
}

const live = new Set<number>();
// A bench interrupted by an exception or Ctrl-C must not leave its server processes behind.
process.once("exit", () => {
  for (const pid of live) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Kills `pid` with SIGKILL if the bench exits before calling the returned `forget()` (after a clean stop). */
export function killOnExit(pid: number | undefined): () => void {
  if (pid === undefined) return () => {};
  live.add(pid);
  return () => live.delete(pid);
}

/** Forks `file` (a .ts module) with `--import tsx` and waits for its `{type: "ready"}` message. */
export async function startWorker(file: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = fork(file, [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const forget = killOnExit(child.pid);
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 500) lines.shift();
  };
  createInterface({ input: child.stdout! }).on("line", onLine);
  createInterface({ input: child.stderr! }).on("line", onLine);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      forget();
      resolve();
    }),
  );
  const inbox: WorkerMessage[] = [];
  const waiters: { type: string; resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  child.on("message", (raw) => {
    const message = raw as WorkerMessage;
    if (message.type === "failed") {
      // A worker that failed never sends what the bench waits for: fail those waits now.
      failure = new Error(`worker ${file} failed: ${String(message.message)}`);
      for (const w of waiters.splice(0)) w.reject(failure);
      return;
    }
    const index = waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) waiters.splice(index, 1)[0]!.resolve(message);
    else inbox.push(message);
  });
  const next = (type: string, timeoutMs: number): Promise<WorkerMessage> => {
    const queued = inbox.findIndex((m) => m.type === type);
    if (queued >= 0) return Promise.resolve(inbox.splice(queued, 1)[0]!);
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (m: WorkerMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`worker ${file}: no "${type}" message within ${timeoutMs} ms\n${lines.join("\n")}`));
      }, timeoutMs);
      waiters.push(waiter);
      void exited.then(() => {
        if (!waiters.includes(waiter)) return;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`worker ${file} exited (${child.exitCode}) before "${type}"\n${lines.join("\n")}`));
      });
    });
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    const ready = await next("ready", 30_000);
    return {
      pid: child.pid!,
      ready,
      send: (message) => child.send(message),
      next,
      log: () => lines.join("\n"),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Worker side: sends a message to the bench (no-op when not started as a worker). */
export function toBench(message: WorkerMessage): void {
  process.send?.(message);
}

/**
 * Worker side: handles the bench's messages; exits when the bench goes away
 * (IPC disconnect), so a crashed bench leaves no worker running.
 */
export function fromBench(handler: (message: WorkerMessage) => void | Promise<void>): void {
  process.on("message", (message) => {
    Promise.resolve(handler(message as WorkerMessage)).catch((error: unknown) => {
      console.error(error);
      toBench({ type: "failed", message: String(error instanceof Error ? (error.stack ?? error.message) : error) });
    });
  });
  process.once("disconnect", () => process.exit(0));
  process.once("SIGTERM", () => process.exit(0));
}
