/** What a command reads and writes besides NATS: injected so the commands stay testable. */
export interface CliIO {
  /** Writes one line to standard output. */
  out(line: string): void;
  /** Writes one line to standard error (notes, warnings, errors). */
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: following commands (tail) stop and exit 0. */
  signal: AbortSignal;
  /** Wall clock, ms (ages in `inspect` and `sessions`). */
  now(): number;
}
