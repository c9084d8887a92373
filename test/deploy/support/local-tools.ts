import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import WebSocket from "ws";

/** Helpers of the `npm start` test: the launcher's file, the local tools as a user runs them, one chat round trip. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export interface LauncherJson {
  pid: number;
  gatewayUrl: string;
  natsUrl: string;
  jwtSecret: { file?: string; env?: string };
  processes: Record<string, number>;
}

export function readLauncher(dataDir: string): LauncherJson {
  return JSON.parse(readFileSync(join(dataDir, "launcher.json"), "utf8")) as LauncherJson;
}

/** The environment of a user's second terminal: only THREADLINE_DATA_DIR, no port, URL, secret or NATS settings. */
export function toolEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(THREADLINE_|NATS_|TL_NATS_)/.test(name)) env[name] = value;
  }
  env.THREADLINE_DATA_DIR = dataDir;
  return env;
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a deploy/local or libs/cli script with `node --import tsx` and waits for it to exit. */
export function runTool(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<ToolRun> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", script, ...args],
      { cwd: ROOT, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The terminal chat as a process: its output lines, a way to type, and its exit. */
export function startChat(
  session: string,
  env: NodeJS.ProcessEnv,
): {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
} {
  const proc = spawn(process.execPath, ["--import", "tsx", "deploy/local/chat.ts", session], {
    cwd: ROOT,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on("line", (l) => lines.push(l));
  createInterface({ input: proc.stderr! }).on("line", (l) => lines.push(l));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { proc, lines, exited };
}

/** Publishes an input as `user` in `session` and waits for the demo agents' complete reply. */
export async function chatOnce(gatewayPort: number, demoPort: number, session: string, user: string) {
  const tokenUrl = `http://127.0.0.1:${demoPort}/api/token?user=${user}`;
  const { token } = (await (await fetch(tokenUrl)).json()) as { token: string };
  const client = createClient({ url: `ws://127.0.0.1:${gatewayPort}/v1/ws`, token, WebSocket: WebSocket as never });
  try {
    const handle = await client.attach(session, { from: "start" });
    await handle.publish({ type: "input", data: { text: "Hi, where is my order 1042?" } });
    const reply = await waitFor(
      () =>
        handle.messages.messages.find(
          (m) => m.role === "assistant" && m.status === "complete" && m.parts.some((p) => p.type === "text"),
        ),
      { timeoutMs: 30_000, message: "no complete reply from the demo's agents" },
    );
    return { reply, members: handle.presence.members };
  } finally {
    await client.close();
  }
}
