import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GATEWAY_NODE_FLAGS } from "@threadline/gateway/node-flags";
import { gatewayProcessEnv, spawnService } from "../integration/support/service-process.ts";
import { killOnExit, type WorkerMessage } from "./worker-process.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Processes of the `scale` scenario, each started through `sh -c 'ulimit -n
 * …'` so it may hold as many sockets as the machine allows: the soft
 * RLIMIT_NOFILE is raised to `fdLimit`, or to the hard limit when that is
 * lower (an unprivileged process cannot go past it). `fdLimitOf` reads what
 * a process actually got.
 */
const raise = (fdLimit: number) => `ulimit -n ${fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;

/** The soft open-files limit of a running process (/proc/<pid>/limits). */
export function fdLimitOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

/** A helper process driven over IPC. */
export interface ScaleWorker {
  readonly pid: number;
  readonly ready: WorkerMessage;
  send(message: WorkerMessage): void;
  /** The next message of `type`; rejects after `timeoutMs` or when the process exits. */
  next(type: string, timeoutMs: number): Promise<WorkerMessage>;
  stop(): Promise<void>;
}

/** Forks a .ts worker (tsx) with a raised fd limit and waits for its `{type: "ready"}`. */
export async function forkWorker(file: string, fdLimit: number): Promise<ScaleWorker> {
  const child = fork(resolve(ROOT, file), [], {
    cwd: ROOT,
    // fork runs `execPath ...execArgv file`: sh raises the limit and execs node on the same IPC channel.
    execPath: "/bin/sh",
    execArgv: ["-c", raise(fdLimit), "sh", process.execPath, "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return handle(child, file);
}

function handle(child: ChildProcess, what: string): Promise<ScaleWorker> {
  const forget = killOnExit(child.pid);
  const inbox: WorkerMessage[] = [];
  const waiters: { type: string; resolve: (m: WorkerMessage) => void }[] = [];
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      forget();
      r();
    }),
  );
  child.on("message", (message: WorkerMessage) => {
    const index = waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) waiters.splice(index, 1)[0]?.resolve(message);
    else inbox.push(message);
  });
  const next = (type: string, timeoutMs: number): Promise<WorkerMessage> => {
    const queued = inbox.findIndex((m) => m.type === type);
    if (queued >= 0) return Promise.resolve(inbox.splice(queued, 1)[0] as WorkerMessage);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      const waiter = {
        type,
        resolve: (m: WorkerMessage) => {
          clearTimeout(timer);
          resolvePromise(m);
        },
      };
      waiters.push(waiter);
      void exited.then(() => {
        if (!waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before "${type}"`));
      });
    });
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  return next("ready", 30_000).then(
    (ready) => ({ pid: child.pid as number, ready, send: (m) => child.send(m), next, stop }),
    async (error) => {
      await stop();
      throw error;
    },
  );
}

/** The gateway as a process with a raised fd limit (the bench's tokens, 127.0.0.1, a free port). */
export interface ScaleGateway {
  readonly pid: number;
  readonly url: string;
  stop(): Promise<void>;
  log(): string;
}

export async function spawnScaleGateway(
  natsUrl: string,
  fdLimit: number,
  env: Record<string, string>,
): Promise<ScaleGateway> {
  const service = await spawnService({
    name: "gateway",
    command: "/bin/sh",
    args: [
      "-c",
      raise(fdLimit),
      "sh",
      process.execPath,
      ...GATEWAY_NODE_FLAGS,
      "--import",
      "tsx",
      "services/gateway/src/main.ts",
    ],
    env: { ...gatewayProcessEnv(natsUrl, "warn"), ...env },
    readyEvent: "gateway-ready",
    keepLines: 200,
    onSpawn: killOnExit,
  });
  return {
    pid: service.pid,
    url: `ws://127.0.0.1:${service.ready.port as number}/v1/ws`,
    stop: () => service.signal("SIGKILL"),
    log: service.log,
  };
}
