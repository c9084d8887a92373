/**
 * The tail of a process's output, bounded by `maxChars`. At the limit the
 * oldest chunks are dropped and the text starts with a marker saying how
 * much was dropped — a failing test shows the end of the log, where the
 * failure is.
 */
export class LogBuffer {
  private readonly chunks: string[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly maxChars = 1_000_000) {}

  append(chunk: string): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.maxChars && this.chunks.length > 1) {
      const oldest = this.chunks.shift() as string;
      this.size -= oldest.length;
      this.dropped += oldest.length;
    }
  }

  text(): string {
    const body = this.chunks.join("");
    return this.dropped > 0 ? `[… ${this.dropped} earlier characters dropped …]\n${body}` : body;
  }

  /**
   * The last `chars` characters (for error messages), after runs of lines
   * that differ only in their `[pid] date time` prefix are collapsed into the
   * first one and a count (a server polled for health every 20 ms logs one
   * warning per poll: the lines before them are what explain the failure).
   */
  tail(chars = 4_000): string {
    const body = collapseRepeats(this.text());
    return body.length > chars ? `…${body.slice(-chars)}` : body;
  }
}

/** A nats-server log line's `[pid] yyyy/mm/dd hh:mm:ss.micros ` prefix. */
const LOG_PREFIX = /^\[\d+\] \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d+ /;

/**
 * Collapses each run of consecutive lines equal but for their log prefix
 * into the run's first line plus `  (× N, last at <time>)`.
 * @example collapseRepeats("[1] 2026/01/01 00:00:00.1 [WRN] x\n[1] 2026/01/01 00:00:01.5 [WRN] x\n")
 *   // "[1] 2026/01/01 00:00:00.1 [WRN] x\n  (× 2, last at 00:00:01.5)\n"
 */
export function collapseRepeats(text: string): string {
  const out: string[] = [];
  let run: { message: string; count: number; last: string } | undefined;
  const flush = () => {
    if (run && run.count > 1) out.push(`  (× ${run.count}, last at ${run.last})`);
    run = undefined;
  };
  for (const line of text.split("\n")) {
    const prefix = LOG_PREFIX.exec(line)?.[0];
    if (prefix === undefined) {
      flush();
      out.push(line);
      continue;
    }
    const message = line.slice(prefix.length);
    const time = prefix.split(" ")[2]!;
    if (run?.message === message) {
      run.count++;
      run.last = time;
      continue;
    }
    flush();
    out.push(line);
    run = { message, count: 1, last: time };
  }
  flush();
  return out.join("\n");
}
