import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The `threadline` bin as installed (`node_modules/.bin/threadline` links to it). */
export const CLI_BIN = fileURLToPath(new URL("../../bin/threadline.js", import.meta.url));

/** A running `threadline` process (tests): its output so far, line by line, and its exit. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code (or the signal name) once the process exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGINT) unless it already exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Spawns `node bin/threadline.js …args` with `env` added to the environment
 * (NATS_* variables of the test runner's environment are removed first so
 * they cannot leak in).
 */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}, input?: string): CliProcess {
  const base = { ...process.env };
  for (const key of Object.keys(base)) if (key.startsWith("NATS_") || key.startsWith("THREADLINE_")) delete base[key];
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    env: { ...base, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  collect(child.stdout, stdout);
  collect(child.stderr, stderr);
  child.stdin?.end(input);
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  return {
    child,
    stdout,
    stderr,
    exited,
    async stop(signal = "SIGINT") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** How long `runCliProcess` lets a command run before it kills it and fails, naming the command. */
export const CLI_RUN_TIMEOUT_MS = 20_000;

/**
 * Runs `threadline …args` to completion. A command still running after
 * `timeoutMs` is killed and the call rejects with the command, its run time
 * and its output so far — so a test that hangs says which command did, and
 * what it printed, instead of only that the test timed out.
 */
export async function runCliProcess(
  args: readonly string[],
  env: Record<string, string> = {},
  input?: string,
  timeoutMs = CLI_RUN_TIMEOUT_MS,
): Promise<{ code: number | string; stdout: string[]; stderr: string[] }> {
  const started = Date.now();
  const p = spawnCli(args, env, input);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const first = await Promise.race([p.exited, deadline]);
  clearTimeout(timer);
  if (first === "timeout") {
    await p.stop("SIGKILL");
    throw new Error(
      `threadline ${args.join(" ")} did not exit within ${timeoutMs} ms (killed after ${Date.now() - started} ms)\n` +
        `--- stdout ---\n${p.stdout.join("\n")}\n--- stderr ---\n${p.stderr.join("\n")}`,
    );
  }
  const code = first;
  // Let the pipes deliver their last chunks.
  await Promise.all([ended(p.child.stdout), ended(p.child.stderr)]);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

function collect(stream: NodeJS.ReadableStream | null, lines: string[]): void {
  if (!stream) return;
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  stream.on("end", () => {
    if (partial) lines.push(partial);
    partial = "";
  });
}

function ended(stream: NodeJS.ReadableStream | null): Promise<void> {
  if (!stream || (stream as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded) {
    return Promise.resolve();
  }
  return new Promise((resolve) => stream.once("end", () => resolve()));
}
