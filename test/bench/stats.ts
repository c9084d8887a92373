/**
 * Latency samples of one benchmark run, kept exactly (a Float64Array that
 * grows by doubling up to `maxSamples`) so percentiles are exact, not
 * estimated from buckets. At the limit further samples are still counted
 * and still move `max`, but are not stored: percentiles then describe the
 * first `maxSamples` samples, and `truncated` says so.
 */
export class LatencyRecorder {
  private samples = new Float64Array(4096);
  private stored = 0;
  private total = 0;
  private maxValue = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxSamples = 5_000_000) {}

  record(ms: number): void {
    this.total++;
    if (ms > this.maxValue) this.maxValue = ms;
    if (this.stored >= this.maxSamples) return;
    if (this.stored === this.samples.length) {
      const grown = new Float64Array(Math.min(this.samples.length * 2, this.maxSamples));
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.stored++] = ms;
  }

  get count(): number {
    return this.total;
  }

  summary(): LatencySummary {
    return summarize(this.samples.subarray(0, this.stored), this.total, this.maxValue);
  }
}

export interface LatencySummary {
  count: number;
  /** True when more samples were recorded than stored (see LatencyRecorder). */
  truncated: boolean;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values (`q` in [0, 1]); NaN for no values. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Summary of latency samples (copied, then sorted). */
export function summarize(values: ArrayLike<number>, total = values.length, max?: number): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const last = sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN;
  return {
    count: total,
    truncated: total > sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: max !== undefined && Number.isFinite(max) ? Math.max(max, last) : last,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** Rounds for reports: 2 decimals below 10, 1 decimal below 1000, integers above. NaN stays NaN. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const abs = Math.abs(value);
  const digits = abs < 10 ? 100 : abs < 1000 ? 10 : 1;
  return Math.round(value * digits) / digits;
}

/** High-resolution wall clock in ms, comparable across processes on one machine. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
