import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * The process supervisor of `npm start`. Each child runs in its own process
 * group (a terminal's Ctrl-C reaches only the launcher, which then stops the
 * children in order: dependants before what they depend on, so nothing logs
 * "NATS is unavailable" on the way down).
 *
 * Restart policy, once the whole stack has started: a child that exits is
 * started again after a backoff of 250 ms, doubling per consecutive crash up
 * to 10 s; a child that then runs for 30 s counts as stable and its backoff
 * goes back to 250 ms. One line per crash and one per restart. The others
 * keep running (clients reconnect to a restarted nats-server by themselves).
 * A child that fails before the first start completed stops the launcher:
 * that is a configuration problem (a port in use, a bad secret), not a crash.
 */
export const RESTART_POLICY = { initialMs: 250, maxMs: 10_000, stableMs: 30_000 } as const;

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** A line of its output that says it is ready. */
  readyLine: RegExp;
  /** Stop order: higher tiers stop first, a tier's processes in parallel (npm start: agents and demo 2, gateway and presence 1, nats 0). */
  tier: number;
  /** How long it may take to stop on SIGTERM before it gets SIGKILL. */
  stopMs: number;
}

interface Child {
  spec: ChildSpec;
  proc?: ChildProcess;
  /** Consecutive crashes without a stable run in between. */
  crashes: number;
  startedAt: number;
  restartTimer?: NodeJS.Timeout;
}

export interface SupervisorOptions {
  cwd: string;
  /** Prints child output (prefixed); launcher lines always print. */
  echo: boolean;
  /** Called whenever a child's pid changes (started, restarted, gone). */
  onPids?: (pids: Record<string, number>) => void;
  log?: (line: string) => void;
}

export class Supervisor {
  readonly #children = new Map<string, Child>();
  #booted = false;
  #stopping = false;
  readonly #log: (line: string) => void;

  constructor(private readonly options: SupervisorOptions) {
    this.#log = options.log ?? ((line) => console.log(line));
  }

  /** Starts a child and resolves once it printed its ready line (rejects if it exits first). */
  start(spec: ChildSpec): Promise<void> {
    const child: Child = { spec, crashes: 0, startedAt: 0 };
    this.#children.set(spec.name, child);
    return this.#spawn(child);
  }

  /** From now on, children that exit are restarted instead of failing the launch. */
  booted(): void {
    this.#booted = true;
  }

  pids(): Record<string, number> {
    const pids: Record<string, number> = {};
    for (const [name, { proc }] of this.#children) {
      if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) pids[name] = proc.pid;
    }
    return pids;
  }

  #spawn(child: Child): Promise<void> {
    const { spec } = child;
    const proc = spawn(spec.command, spec.args, {
      cwd: this.options.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: Ctrl-C in the terminal reaches the launcher only
    });
    child.proc = proc;
    child.startedAt = Date.now();
    this.options.onPids?.(this.pids());
    return new Promise((resolve, reject) => {
      let ready = false;
      const onLine = (line: string) => {
        if (!ready && spec.readyLine.test(line)) {
          ready = true;
          resolve();
        }
        if (this.options.echo) console.log(`[${spec.name}] ${line}`);
      };
      createInterface({ input: proc.stdout! }).on("line", onLine);
      createInterface({ input: proc.stderr! }).on("line", onLine);
      proc.once("error", (error) => {
        if (!ready) reject(new Error(`${spec.name} could not start: ${error.message}`));
      });
      proc.once("exit", (code, signal) => {
        this.options.onPids?.(this.pids());
        if (this.#stopping) return;
        if (!ready && !this.#booted) {
          reject(new Error(`${spec.name} exited before it was ready (code ${code}, signal ${signal})`));
          return;
        }
        this.#scheduleRestart(child, code, signal);
      });
    });
  }

  #scheduleRestart(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (Date.now() - child.startedAt >= RESTART_POLICY.stableMs) child.crashes = 0;
    const delay = Math.min(RESTART_POLICY.initialMs * 2 ** child.crashes, RESTART_POLICY.maxMs);
    child.crashes += 1;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    this.#log(`[launcher] ${child.spec.name} exited (${how}); restarting in ${delay} ms`);
    child.restartTimer = setTimeout(() => {
      child.restartTimer = undefined;
      if (this.#stopping) return;
      // A restart that dies before it is ready comes back here through the exit handler.
      void this.#spawn(child).then(
        () => this.#log(`[launcher] ${child.spec.name} restarted (pid ${child.proc?.pid})`),
        () => {},
      );
    }, delay);
  }

  /** Stops every child, highest tier first, each tier in parallel; SIGKILL after the child's stopMs. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const child of this.#children.values()) clearTimeout(child.restartTimer);
    const tiers = [...new Set([...this.#children.values()].map((c) => c.spec.tier))].sort((a, b) => b - a);
    for (const tier of tiers) {
      const children = [...this.#children.values()].filter((c) => c.spec.tier === tier);
      await Promise.all(children.map((c) => stopChild(c.proc, c.spec.stopMs)));
    }
    this.options.onPids?.({});
  }

  /** Last resort (the launcher itself is going away now): SIGKILL every child's process group. */
  killAll(): void {
    for (const { proc } of this.#children.values()) {
      if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }
}

function stopChild(proc: ChildProcess | undefined, stopMs: number): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), stopMs);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill("SIGTERM");
  });
}
