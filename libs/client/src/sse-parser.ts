/** One dispatched server-sent event: its `event` type (default `"message"`) and its `data` lines joined by `\n`. */
export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Incremental parser of a `text/event-stream` body (the WHATWG HTML
 * "event stream interpretation"): feed it decoded text as it arrives, in
 * chunks split anywhere (inside a line, between a CR and its LF), and it
 * returns the events completed by that chunk. Lines end with CRLF, LF or
 * CR; `:` lines are comments; a field without a colon has an empty value;
 * one space after the colon is dropped; an event with no `data` field is
 * not dispatched; `id` and `retry` are ignored (Durable Streams resumes by
 * offset, not `Last-Event-ID`).
 *
 * Bounded: a line longer than `maxLineChars` (default 8 MiB of text) throws
 * a RangeError, so a body without line breaks cannot grow memory without
 * limit.
 * @example
 *   const parser = new SseParser();
 *   parser.push("event: control\ndata:{}\n\n"); // [{ event: "control", data: "{}" }]
 */
export class SseParser {
  private line = "";
  /** The previous chunk ended with CR: an LF starting the next one belongs to it. */
  private afterCr = false;
  private event = "";
  private data: string[] = [];

  constructor(private readonly maxLineChars = 8 * 1024 * 1024) {}

  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let start = 0;
    if (this.afterCr && chunk.startsWith("\n")) start = 1;
    this.afterCr = false;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line += chunk.slice(start, i);
      this.takeLine(out);
      if (c === 13) {
        if (i + 1 === chunk.length) this.afterCr = true;
        else if (chunk.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.line += chunk.slice(start);
    if (this.line.length > this.maxLineChars) {
      throw new RangeError(`an event-stream line is longer than ${this.maxLineChars} characters`);
    }
    return out;
  }

  private takeLine(out: SseMessage[]): void {
    const line = this.line;
    this.line = "";
    if (line === "") {
      if (this.data.length > 0) out.push({ event: this.event || "message", data: this.data.join("\n") });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}
