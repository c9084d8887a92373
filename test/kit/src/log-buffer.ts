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

  /** The last `chars` characters (for error messages). */
  tail(chars = 4_000): string {
    const body = this.text();
    return body.length > chars ? `…${body.slice(-chars)}` : body;
  }
}
