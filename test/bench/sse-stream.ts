import { type ClientRequest, get, type IncomingMessage } from "node:http";

/**
 * A lean SSE reader for the baseline: one HTTP/1.1 request, no automatic
 * reconnect (a drop is a loss the bench must see). `onEvent` gets each
 * event's `id` and `data` fields as sent; comments and other fields
 * (`event:`) are skipped.
 */
export class SseStream {
  private buffer = "";
  private response: IncomingMessage | undefined;
  closed = false;

  private constructor(
    private readonly request: ClientRequest,
    private readonly onEvent: (id: string, data: string, receivedAt: number) => void,
  ) {}

  /** Resolves once the server's first bytes (its `: connected` comment) arrived. */
  static open(url: string, onEvent: (id: string, data: string, receivedAt: number) => void): Promise<SseStream> {
    return new Promise((resolve, reject) => {
      const request = get(url, { agent: false, headers: { accept: "text/event-stream" } });
      const stream = new SseStream(request, onEvent);
      request.on("socket", (socket) => socket.setNoDelay(true));
      request.on("error", (error) => {
        stream.closed = true;
        reject(error);
      });
      request.on("response", (response) => {
        stream.response = response;
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${url}: HTTP ${response.statusCode}`));
          response.resume();
          return;
        }
        response.setEncoding("utf8");
        response.once("data", () => resolve(stream));
        response.on("data", (chunk: string) => stream.onChunk(chunk));
        response.on("close", () => {
          stream.closed = true;
        });
      });
    });
  }

  close(): void {
    this.closed = true;
    this.response?.destroy();
    this.request.destroy();
  }

  private onChunk(chunk: string): void {
    const receivedAt = performance.timeOrigin + performance.now();
    this.buffer += chunk;
    let end = this.buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id = "";
      let data = "";
      for (const line of block.split("\n")) {
        // A field is `name:value`, one space after the colon optional (the SSE spec; some servers omit it).
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
        const field = line.slice(0, colon);
        if (field === "id") id = value;
        else if (field === "data") data += (data ? "\n" : "") + value;
      }
      if (data) this.onEvent(id, data, receivedAt);
      end = this.buffer.indexOf("\n\n");
    }
  }
}
