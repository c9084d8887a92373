import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import type { DsResponse } from "./ds-response.ts";
import type { SseSink } from "./sse.ts";

/** Request headers a Durable Streams request may carry (uWS request objects only live synchronously). */
const HEADERS = [
  "authorization",
  "host",
  "origin",
  "content-type",
  "if-none-match",
  "stream-ttl",
  "stream-expires-at",
  "stream-closed",
  "stream-seq",
  "stream-forked-from",
  "stream-fork-offset",
  "stream-fork-sub-offset",
  "producer-id",
  "producer-epoch",
  "producer-seq",
  "threadline-device",
  "threadline-session",
  "access-control-request-headers",
] as const;

/**
 * One HTTP request/response of the Durable Streams API over uWebSockets.js:
 * headers captured synchronously, the body collected up to a limit, abort
 * tracking, and writes corked and skipped once the client went away.
 */
export class HttpExchange {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  private readonly headers = new Map<string, string>();
  private readonly present = new Set<string>();
  readonly abort = new AbortController();
  private responded = false;
  private writable: (() => void) | undefined;

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
    /** Headers every response carries (CORS, security). */
    private readonly always: () => Record<string, string>,
  ) {
    this.method = req.getMethod().toUpperCase();
    this.path = req.getUrl();
    this.query = req.getQuery() ?? "";
    req.forEach((name) => {
      this.present.add(name.toLowerCase());
    });
    for (const name of HEADERS) this.headers.set(name, req.getHeader(name));
    res.onAborted(() => {
      this.abort.abort();
      this.writable?.();
    });
  }

  get aborted(): boolean {
    return this.abort.signal.aborted;
  }

  /** `RequestHeaders.get`: a lowercase header name's value, `""` when absent. */
  get(name: string): string {
    return this.header(name);
  }

  header(name: string): string {
    return this.headers.get(name) ?? "";
  }

  has(name: string): boolean {
    return this.present.has(name);
  }

  /**
   * The request body, at most `limit` bytes: resolves `undefined` when it is
   * larger (the rest is read and dropped so the client gets the 413). Must be
   * called synchronously in the handler.
   */
  body(limit: number): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const parts: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      this.res.onData((chunk, isLast) => {
        size += chunk.byteLength;
        if (size > limit) tooLarge = true;
        else parts.push(Buffer.from(chunk.slice(0)));
        if (isLast) resolve(tooLarge ? undefined : new Uint8Array(Buffer.concat(parts)));
      });
    });
  }

  reply(response: DsResponse, withoutBody = false): void {
    if (this.aborted || this.responded) return;
    this.responded = true;
    this.res.cork(() => {
      this.res.writeStatus(response.status);
      for (const [name, value] of Object.entries({ ...this.always(), ...response.headers }))
        this.res.writeHeader(name, value);
      if (withoutBody || this.method === "HEAD" || response.body === undefined) this.res.endWithoutBody(0);
      else this.res.end(response.body);
    });
  }

  /** An SSE response: status and headers once, then text written as it comes (chunked). */
  sse(): SseSink & { drained(): Promise<void> } {
    let open = false;
    let backpressured = false;
    return {
      open: (headers) => {
        if (this.aborted || this.responded) return;
        this.responded = true;
        open = true;
        this.res.cork(() => {
          this.res.writeStatus("200 OK");
          for (const [name, value] of Object.entries({ ...this.always(), ...headers }))
            this.res.writeHeader(name, value);
        });
      },
      write: (text) => {
        if (!open || this.aborted) return;
        this.res.cork(() => {
          if (!this.res.write(text)) backpressured = true;
        });
      },
      end: () => {
        if (!open || this.aborted) return;
        open = false;
        this.res.cork(() => {
          this.res.end();
        });
      },
      // Resolves once uWS has flushed what a slow reader left buffered, so an SSE response holds at most
      // one read batch in memory.
      drained: () =>
        new Promise<void>((resolve) => {
          if (!backpressured || this.aborted || !open) {
            resolve();
            return;
          }
          this.writable = resolve;
          this.res.onWritable(() => {
            backpressured = false;
            this.writable = undefined;
            resolve();
            return true;
          });
        }),
    };
  }
}
