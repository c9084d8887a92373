import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { TestKitError, TestKitErrorCode } from "./errors.ts";
import { externalNatsServer } from "./external-server.ts";
import { freePorts } from "./free-port.ts";
import type { Jsz, Readiness, Varz } from "./monitor.ts";
import type { NatsUsers } from "./nats-config.ts";
import { isAddressInUse, prepareServer } from "./server-process.ts";

export interface NatsServerOptions {
  /** Enable JetStream (store in `storeDir`). Default true. */
  jetstream?: boolean;
  /**
   * Configure accounts: `SYS` (user `sys`/`sys`) as the system account and
   * `APP` (JetStream enabled, user `app`/`app`); the credentials are on
   * `server.users`. Default false: no accounts, no auth at all.
   */
  systemAccount?: boolean;
  /** Config text appended last to the generated config (later keys override earlier ones). */
  config?: string;
  /**
   * JetStream store dir. Default: `store/` inside the server's temp dir,
   * removed by `stop()`. A dir given here is never removed by the kit.
   */
  storeDir?: string;
  /** `server_name`. Default: `tl-<random>`. */
  name?: string;
  /** Extra command-line arguments after `-c <config>` (they override the config), e.g. `["--no_advertise"]`. */
  args?: string[];
  /**
   * How long a start or restart may take until `/healthz` is ok. Default 10 000 ms. A clustered node
   * is healthy once every replicated stream it hosts is current again: after a whole-cluster restart
   * that takes Raft elections (seconds each, more under load).
   */
  readyTimeoutMs?: number;
}

/**
 * A nats-server for a test: a child process the kit spawned on 127.0.0.1 with
 * random ports and a fresh temp dir — or, when `NATS_URL` is set, an external
 * server (then `restart()`/`kill()` reject with `NOT_SUPPORTED`, and `stop()`
 * leaves it running).
 *
 * `await using server = await startNatsServer()` stops it at the end of the scope.
 */
export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<monitor port>`. */
  readonly monitorUrl: string;
  /** The configured JetStream store dir (the server keeps its data in `<storeDir>/jetstream`). */
  readonly storeDir: string;
  /** `server_name`. */
  readonly name: string;
  /** PID of the running process; undefined while it is not running (and for an external server). */
  readonly pid: number | undefined;
  /** Credentials, when started with `systemAccount: true`. Spread into `connect()`: `{ servers, ...users.app }`. */
  readonly users: NatsUsers | undefined;
  /** The captured server output (stdout and stderr) of every run of this handle, bounded to its last ~1 MB. */
  log(): string;
  /** SIGTERM (graceful: JetStream flushes), waits for exit (SIGKILL after 10 s), removes the kit's temp dir. Final and idempotent. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit (rejects with TIMEOUT after 10 s). No-op when not running. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Stops the process if running (SIGTERM) and starts it again on the same ports with the same store dir;
   * resolves when healthy, or with `ready: "serving"` as soon as it serves clients with JetStream enabled
   * (a cluster node may still be catching up; see `Readiness`).
   */
  restart(options?: { ready?: Readiness }): Promise<void>;
  /** Whether the process is alive. */
  running(): boolean;
  /** GET `/varz`. */
  varz(): Promise<Varz>;
  /** GET `/jsz?accounts=true&streams=true&consumers=true&config=true`. */
  jsz(): Promise<Jsz>;
}

/** Attempts to start with fresh ports when another process took a picked port first. */
const START_ATTEMPTS = 5;

/**
 * Starts a nats-server for a test and resolves when `/healthz` reports ok.
 * Rejects with `START_FAILED` (and the server log) if the process exits or
 * stays unhealthy for 10 s; with `NO_BINARY` when no `nats-server` is found.
 * When env `NATS_URL` is set, returns a handle for that server instead.
 * @example
 *   const server = await startNatsServer();
 *   onTestFinished(() => server.stop());
 *   const nc = await connect({ servers: server.url });
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const external = process.env.NATS_URL;
  if (external) return externalNatsServer(external, options);
  const bin = requireNatsServer();
  for (let attempt = 1; ; attempt++) {
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    const server = await prepareServer(bin, options, { port, monitorPort });
    try {
      await server.launch();
      return server;
    } catch (error) {
      await server.stop();
      if (!isAddressInUse(error) || attempt >= START_ATTEMPTS) throw error;
    }
  }
}

/**
 * The `nats-server` binary to use: `$NATS_SERVER_BIN` if set (undefined when
 * it is not an executable file), else the first executable `nats-server` on
 * the PATH, in /usr/sbin (Debian's package), /usr/local/bin or /usr/bin.
 */
export function findNatsServer(): string | undefined {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return isExecutableFile(fromEnv) ? fromEnv : undefined;
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin", "/usr/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, "nats-server");
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** `findNatsServer()`, or a `NO_BINARY` error that says how to install one. */
export function requireNatsServer(): string {
  const bin = findNatsServer();
  if (bin) return bin;
  const fromEnv = process.env.NATS_SERVER_BIN;
  const where = fromEnv
    ? `NATS_SERVER_BIN=${fromEnv} is not an executable file`
    : "no nats-server on the PATH, in /usr/sbin, /usr/local/bin or /usr/bin";
  throw new TestKitError(
    TestKitErrorCode.NO_BINARY,
    `${where}. Install nats-server >= 2.9 with \`bash deploy/local/ensure-nats-server.sh\` ` +
      "(as root on Debian/Ubuntu it runs `apt-get install -y nats-server`; otherwise it prints what to do), " +
      "or set NATS_SERVER_BIN to a nats-server binary, or NATS_URL to a running server.",
  );
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
