import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A presence service replica running as its own process (so it can be SIGKILLed). */
export interface PresenceProcess extends AsyncDisposable {
  readonly id: string;
  readonly pid: number;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  log(): string;
}

/** Spawns `services/presence/src/main.ts` and resolves once it printed its ready line. */
export async function spawnPresence(id: string, env: Record<string, string>): Promise<PresenceProcess> {
  const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", "services/presence/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      THREADLINE_PRESENCE_ID: id,
      THREADLINE_PRESENCE_PORT: "-1",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  await new Promise<void>((resolveReady, reject) => {
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > 2000) lines.shift();
      if (line.includes('"presence-ready"')) resolveReady();
    };
    createInterface({ input: proc.stdout! }).on("line", onLine);
    createInterface({ input: proc.stderr! }).on("line", onLine);
    proc.once("exit", (code) =>
      reject(new Error(`presence ${id} exited (${code}) before ready:\n${lines.join("\n")}`)),
    );
  });
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await exited;
  };
  return { id, pid: proc.pid!, kill, log: () => lines.join("\n"), [Symbol.asyncDispose]: kill };
}
