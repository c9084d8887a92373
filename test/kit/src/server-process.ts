import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestKitError, TestKitErrorCode } from "./errors.ts";
import { LogBuffer } from "./log-buffer.ts";
import { getJson, isHealthy, type Jsz, type Readiness, type Varz } from "./monitor.ts";
import { type NatsUsers, renderServerConfig, SYSTEM_ACCOUNT_USERS } from "./nats-config.ts";
import type { NatsServer, NatsServerOptions } from "./nats-server.ts";
import { sleep, waitFor } from "./wait-for.ts";

/** How long a start (or restart) may take until `/healthz` is ok, unless `readyTimeoutMs` says otherwise. */
const READY_TIMEOUT_MS = 10_000;
/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 10_000;
/** How long `kill()` waits for the process to exit after its signal. */
const KILL_WAIT_MS = 10_000;
/** Restart attempts while a port of the previous run is still (or again) taken. */
const RESTART_ATTEMPTS = 20;

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

interface ServerPlan {
  bin: string;
  /** The kit's temp dir: config file, default store. Removed by `stop()`. */
  dir: string;
  configFile: string;
  config: string;
  /** Command-line arguments after `-c <configFile>`. */
  args: string[];
  /** Extra environment of the process (variables the config file references). */
  env: Record<string, string>;
  readyTimeoutMs: number;
  storeDir: string;
  name: string;
  port: number;
  monitorPort: number;
  users: NatsUsers | undefined;
}

export interface ServerPorts {
  port: number;
  monitorPort: number;
  cluster?: { name: string; port: number; routes: number[] };
}

/**
 * Runs the server with a config file of the caller's instead of a generated
 * one; `env` maps the node's plan (ports, store, cluster) to the environment
 * variables that file references.
 */
export interface ExternalConfig {
  configFile: string;
  env(node: NodePlan): Record<string, string>;
}

/** What the kit picked for one server: the values an external config file needs. */
export interface NodePlan extends ServerPorts {
  name: string;
  storeDir: string;
}

/** Creates the temp dir and config file of a server; `launch()` starts it. */
export async function prepareServer(
  bin: string,
  options: NatsServerOptions,
  ports: ServerPorts,
  external?: ExternalConfig,
): Promise<ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), "threadline-nats-"));
  const name = options.name ?? `tl-${Math.random().toString(36).slice(2, 10)}`;
  const jetstream = options.jetstream ?? true;
  const storeDir = options.storeDir ?? join(dir, "store");
  const args = options.args ?? [];
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  if (external) {
    const env = external.env({ ...ports, name, storeDir });
    const config = `${await readFile(external.configFile, "utf8")}\n--- env ---\n${JSON.stringify(env, null, 2)}\n`;
    return new ServerProcess({
      bin,
      dir,
      configFile: external.configFile,
      config,
      args,
      env,
      readyTimeoutMs,
      storeDir,
      name,
      port: ports.port,
      monitorPort: ports.monitorPort,
      users: undefined,
    });
  }
  const config = renderServerConfig({
    name,
    port: ports.port,
    monitorPort: ports.monitorPort,
    ...(jetstream ? { storeDir } : {}),
    ...(ports.cluster ? { cluster: ports.cluster } : {}),
    systemAccount: options.systemAccount ?? false,
    ...(options.config ? { extra: options.config } : {}),
  });
  const configFile = join(dir, "nats-server.conf");
  await writeFile(configFile, config);
  return new ServerProcess({
    bin,
    dir,
    configFile,
    config,
    args,
    env: {},
    readyTimeoutMs,
    storeDir,
    name,
    port: ports.port,
    monitorPort: ports.monitorPort,
    users: options.systemAccount ? SYSTEM_ACCOUNT_USERS : undefined,
  });
}

/** Whether a start failed because a port was taken (retry with other ports, or later). */
export function isAddressInUse(error: unknown): boolean {
  return (
    error instanceof TestKitError &&
    error.code === TestKitErrorCode.START_FAILED &&
    /address already in use/i.test(error.log ?? "")
  );
}

/** A nats-server child process owned by the kit. Created by `prepareServer`. */
export class ServerProcess implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
  readonly storeDir: string;
  readonly name: string;
  readonly users: NatsUsers | undefined;
  private child: ChildProcess | undefined;
  private exit: Promise<ExitInfo> | undefined;
  private exitInfo: ExitInfo | undefined;
  private readonly output = new LogBuffer();
  private runs = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly plan: ServerPlan) {
    this.port = plan.port;
    this.url = `nats://127.0.0.1:${plan.port}`;
    this.monitorUrl = `http://127.0.0.1:${plan.monitorPort}`;
    this.storeDir = plan.storeDir;
    this.name = plan.name;
    this.users = plan.users;
  }

  get pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  log(): string {
    return this.output.text();
  }

  /** Spawns the process and resolves when it is healthy; on failure the process is gone and the error has the log. */
  async launch(readiness: Readiness = "healthy"): Promise<void> {
    if (this.running()) throw new Error(`nats-server ${this.name} is already running`);
    if (this.runs++ > 0) this.output.append(`----- restart at ${new Date().toISOString()} -----\n`);
    const child = spawn(this.plan.bin, ["-c", this.plan.configFile, ...this.plan.args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.plan.env },
    });
    this.child = child;
    this.exitInfo = undefined;
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.output.append(chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => this.output.append(chunk));
    const exit = new Promise<ExitInfo>((resolve) => {
      const finish = (info: ExitInfo) => {
        if (this.child === child && this.exitInfo === undefined) this.exitInfo = info;
        resolve(info);
      };
      // `close` (not `exit`) so the log is complete when the exit is observed.
      child.once("close", (code, signal) => finish({ code, signal }));
      child.once("error", (error) => {
        if (child.pid === undefined) finish({ code: null, signal: null, error });
      });
    });
    this.exit = exit;
    trackLive(this);

    const ready = new AbortController();
    try {
      await Promise.race([
        waitFor(() => isHealthy(this.monitorUrl, readiness), {
          timeoutMs: this.plan.readyTimeoutMs,
          intervalMs: 20,
          signal: ready.signal,
        }),
        exit.then((info) => {
          throw this.startFailed(`exited (${describeExit(info)}) before it was ready`, info.error);
        }),
      ]);
    } catch (error) {
      if (this.running()) {
        child.kill("SIGKILL");
        await exit;
      }
      if (error instanceof TestKitError && error.code === TestKitErrorCode.START_FAILED) throw error;
      throw this.startFailed(`was not healthy within ${this.plan.readyTimeoutMs} ms`, error);
    } finally {
      ready.abort();
    }
  }

  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.terminate();
      liveServers.delete(this);
      await rm(this.plan.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    const exit = this.exit;
    if (!child || !exit || !this.running()) return;
    child.kill(signal);
    const exited = await Promise.race([exit, sleep(KILL_WAIT_MS).then(() => undefined)]);
    if (!exited) {
      throw new TestKitError(
        TestKitErrorCode.TIMEOUT,
        `nats-server ${this.name} (pid ${child.pid}) still runs ${KILL_WAIT_MS} ms after ${signal}`,
        { log: this.log() },
      );
    }
  }

  async restart(options: { ready?: Readiness } = {}): Promise<void> {
    if (this.stopping) throw new TestKitError(TestKitErrorCode.STOPPED, `nats-server ${this.name} was stopped`);
    await this.terminate();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.launch(options.ready);
        return;
      } catch (error) {
        if (!isAddressInUse(error) || attempt >= RESTART_ATTEMPTS) throw error;
        await sleep(100);
      }
    }
  }

  varz(): Promise<Varz> {
    return getJson<Varz>(`${this.monitorUrl}/varz`);
  }

  jsz(): Promise<Jsz> {
    return getJson<Jsz>(`${this.monitorUrl}/jsz?accounts=true&streams=true&consumers=true&config=true`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  private async terminate(): Promise<void> {
    const child = this.child;
    const exit = this.exit;
    if (!child || !exit || !this.running()) return;
    child.kill("SIGTERM");
    const exited = await Promise.race([exit, sleep(STOP_GRACE_MS).then(() => undefined)]);
    if (!exited) {
      child.kill("SIGKILL");
      await exit;
    }
  }

  private startFailed(what: string, cause: unknown): TestKitError {
    const log = this.log();
    return new TestKitError(
      TestKitErrorCode.START_FAILED,
      `nats-server ${this.name} (${this.plan.bin}) ${what}.\n` +
        `--- config ---\n${this.plan.config}--- log (tail) ---\n${this.output.tail()}`,
      { log, ...(cause === undefined ? {} : { cause }) },
    );
  }

  /** Last-resort cleanup when the test process exits without stopping this server. */
  killSync(): void {
    if (this.running()) this.child?.kill("SIGKILL");
    try {
      rmSync(this.plan.dir, { recursive: true, force: true });
    } catch {
      // The killed process may still be writing; a leftover temp dir is harmless.
    }
  }
}

function describeExit(info: ExitInfo): string {
  if (info.error) return `spawn failed: ${info.error.message}`;
  return info.signal ? `signal ${info.signal}` : `code ${info.code}`;
}

/** Launched servers not yet stopped: killed (and their temp dirs removed) if the test process exits first. */
const liveServers = new Set<ServerProcess>();
let exitHookInstalled = false;

function trackLive(server: ServerProcess): void {
  liveServers.add(server);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const s of liveServers) s.killSync();
  });
}
