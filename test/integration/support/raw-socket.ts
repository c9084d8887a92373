import { decodeJson, decodeMsgpack, encodeJson, encodeMsgpack, type ServerFrame } from "@threadline/protocol";
import WebSocket from "ws";

/**
 * A bare protocol client for gateway tests: sends raw frames (msgpack or
 * JSON, or arbitrary bytes) and awaits frames matching a predicate. It does
 * no reconnects or dedupe, so tests see exactly what the gateway sends.
 */
export class RawSocket {
  readonly frames: ServerFrame[] = [];
  /** The byte length of each frame in `frames`, as received. */
  readonly sizes: number[] = [];
  closeCode: number | undefined;
  closeReason = "";
  readonly closed: Promise<number>;
  private waiters: { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }[] = [];
  private ws: WebSocket;

  private constructor(
    url: string,
    readonly encoding: "msgpack" | "json",
    headers: Record<string, string>,
  ) {
    this.ws = new WebSocket(url, ["threadline.v1"], { headers });
    this.ws.binaryType = "nodebuffer";
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      const frame = (isBinary ? decodeMsgpack(new Uint8Array(data)) : decodeJson(data.toString("utf8"))) as ServerFrame;
      this.frames.push(frame);
      this.sizes.push(data.byteLength);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      });
    });
    this.ws.on("error", () => {});
  }

  static async open(
    url: string,
    options: { encoding?: "msgpack" | "json"; headers?: Record<string, string> } = {},
  ): Promise<RawSocket> {
    const socket = new RawSocket(url, options.encoding ?? "msgpack", options.headers ?? {});
    await new Promise<void>((resolve, reject) => {
      socket.ws.once("open", () => resolve());
      socket.ws.once("error", reject);
    });
    return socket;
  }

  /** Opens, sends hello and waits for welcome. */
  static async connect(
    url: string,
    token: string,
    options: { encoding?: "msgpack" | "json"; device?: string; accept?: string[] } = {},
  ): Promise<RawSocket> {
    const socket = await RawSocket.open(url, options);
    socket.send({
      op: "hello",
      token,
      ...(options.device ? { device: options.device } : {}),
      ...(options.accept ? { accept: options.accept } : {}),
    });
    await socket.next((f) => f.op === "welcome" || f.op === "error");
    return socket;
  }

  send(frame: unknown): void {
    if (this.encoding === "msgpack") this.ws.send(encodeMsgpack(frame), { binary: true });
    else this.ws.send(encodeJson(frame), { binary: false });
  }

  sendRaw(data: Uint8Array | string, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** The first frame (already received or future) matching `match`. */
  next<T extends ServerFrame = ServerFrame>(match: (f: ServerFrame) => boolean, timeoutMs = 10_000): Promise<T> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen as T);
    return this.waitNew(match, timeoutMs);
  }

  /** The first frame received from now on matching `match`. */
  waitNew<T extends ServerFrame = ServerFrame>(match: (f: ServerFrame) => boolean, timeoutMs = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f as T);
        },
      });
    });
  }

  /** Sends a request frame with `rid` and resolves with the reply carrying that rid. */
  async request<T extends ServerFrame = ServerFrame>(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    const rid = (frame.rid as number | undefined) ?? ++RawSocket.rid;
    const reply = this.waitNew<T>((f) => "rid" in f && f.rid === rid, timeoutMs);
    this.send({ ...frame, rid });
    return reply;
  }
  private static rid = 1000;

  /** Events received for `session`, in arrival order (`events` batches, PROTOCOL.md §7.3, expanded). */
  events(
    session: string,
  ): { seq: number; event: { id: string; type: string; data?: unknown; from: { kind: string; id: string } } }[] {
    return this.frames.flatMap((f) => {
      if (f.op === "event" && f.session === session) return [{ seq: f.seq, event: f.event as never }];
      if (f.op === "events" && f.session === session)
        return f.seqs.map((seq, i) => ({ seq, event: f.events[i] as never }));
      return [];
    });
  }

  /** Waits until `count` events of `session` have arrived. */
  async waitEvents(session: string, count: number, timeoutMs = 10_000): Promise<void> {
    if (this.events(session).length >= count) return;
    await this.waitNew(
      (f) => (f.op === "event" || f.op === "events") && f.session === session && this.events(session).length >= count,
      timeoutMs,
    );
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Drops the TCP connection without a close frame (simulates a network loss). */
  terminate(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    await this.closed;
  }
}
