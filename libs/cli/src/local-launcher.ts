import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** The part of `npm start`'s `<dataDir>/launcher.json` the CLI uses (deploy/local/dev-env.ts writes it). */
interface LauncherFile {
  pid: number;
  cli?: { servers?: string; user?: string; pass?: string };
}

const CONNECTION_VARS = ["NATS_URL", "NATS_USER", "NATS_PASS", "NATS_PASSWORD", "NATS_TOKEN", "NATS_CREDS"];
const CONNECTION_FLAGS = /^(-s|--server|--user|--password|--token|--creds)(=|$)/;

/**
 * With no NATS connection settings at all (no flag, no variable), the CLI
 * uses the running local `npm start` when it finds one: the launcher.json in
 * THREADLINE_DATA_DIR, else in `./.data` (the repository root's default).
 * A file whose launcher is gone is ignored. Returns the environment to use.
 */
export function withLocalLauncher(
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
  cwd: string,
  alive: (pid: number) => boolean = processAlive,
): NodeJS.ProcessEnv {
  if (CONNECTION_VARS.some((name) => env[name])) return env;
  if (argv.some((arg) => CONNECTION_FLAGS.test(arg))) return env;
  const dataDir = env.THREADLINE_DATA_DIR ? resolve(cwd, env.THREADLINE_DATA_DIR) : join(cwd, ".data");
  let file: LauncherFile;
  try {
    file = JSON.parse(readFileSync(join(dataDir, "launcher.json"), "utf8")) as LauncherFile;
  } catch {
    return env;
  }
  const { cli } = file;
  if (typeof file.pid !== "number" || !alive(file.pid) || !cli?.servers) return env;
  const local: NodeJS.ProcessEnv = { ...env, NATS_URL: cli.servers };
  if (cli.user) local.NATS_USER = cli.user;
  if (cli.pass) local.NATS_PASS = cli.pass;
  return local;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
