import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second for /proc CPU times (`getconf CLK_TCK`, 100 on Linux). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) the process has used, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Resident set size in MB, or undefined when the process is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

export interface ProcessUsage {
  name: string;
  pid: number;
  /** Average CPU over the measured window, in % of one core (200 % = both cores of this machine). */
  cpuPercent: number;
  /** Largest RSS sampled during the window. */
  maxRssMb: number;
  /** RSS at the end of the window. */
  endRssMb: number;
}

/**
 * Measures CPU and RSS of server processes over a window: `start()` takes
 * the first CPU reading and samples RSS every `intervalMs` (a bounded timer,
 * cleared by `stop()`), `stop()` returns the usage per process.
 */
export class ProcessSampler {
  private readonly watched: { name: string; pid: number; cpu0: number; maxRss: number }[] = [];
  private started = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly intervalMs = 500) {}

  watch(name: string, pid: number | undefined): void {
    if (pid === undefined) return;
    this.watched.push({ name, pid, cpu0: 0, maxRss: 0 });
  }

  start(): void {
    this.started = performance.now();
    for (const w of this.watched) {
      w.cpu0 = cpuSeconds(w.pid) ?? 0;
      w.maxRss = rssMb(w.pid) ?? 0;
    }
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): ProcessUsage[] {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.started) / 1000;
    return this.watched.map((w) => {
      const cpu = cpuSeconds(w.pid);
      const end = rssMb(w.pid);
      return {
        name: w.name,
        pid: w.pid,
        cpuPercent: cpu === undefined || seconds <= 0 ? Number.NaN : ((cpu - w.cpu0) / seconds) * 100,
        maxRssMb: w.maxRss,
        endRssMb: end ?? Number.NaN,
      };
    });
  }

  private sample(): void {
    for (const w of this.watched) w.maxRss = Math.max(w.maxRss, rssMb(w.pid) ?? 0);
  }
}
