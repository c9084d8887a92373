import { decodeMsgpack, encodeMsgpack } from "@threadline/protocol";
import WebSocket from "ws";

/** An `event` frame as the bench reads it. */
export interface BenchEvent {
  session: string;
  seq: number;
  event: { id: string; type: string; data?: unknown };
}

type Frame = { op: string; rid?: number; session?: string; [field: string]: unknown };

/**
 * A lean Threadline protocol client for load generation: a raw `ws` socket
 * speaking msgpack frames, with no reconnect, dedupe or frame history (the
 * integration tests' RawSocket keeps every frame, which thousands of sockets
 * cannot afford). Events go to `onEvent` with their arrival time; replies are
 * matched by `rid`; `synced` frames resolve `synced()`. Frames the bench does
 * not expect (errors without rid, gateway-ended attachments) are counted in
 * `unexpected` and the last one kept in `lastUnexpected`.
 */
export class GatewaySocket {
  unexpected = 0;
  lastUnexpected: Frame | undefined;
  closeCode: number | undefined;
  private rid = 0;
  private readonly replies = new Map<number, (frame: Frame) => void>();
  private readonly syncWaiters = new Map<string, (frame: Frame) => void>();
  private welcomeWaiter: ((frame: Frame) => void) | undefined;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly ws: WebSocket,
    private readonly onEvent: (event: BenchEvent, receivedAt: number) => void,
  ) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => {
      const receivedAt = performance.timeOrigin + performance.now();
      const frame = decodeMsgpack(data) as Frame;
      if (frame.op === "event") {
        this.onEvent(frame as unknown as BenchEvent, receivedAt);
        return;
      }
      if (frame.op === "events") {
        // A catch-up batch (PROTOCOL.md §7.3): one event per entry, all received at the same time.
        const { session, seqs, events } = frame as unknown as { session: string; seqs: number[]; events: unknown[] };
        for (let i = 0; i < seqs.length; i++) {
          this.onEvent({ session, seq: seqs[i]!, event: events[i] as BenchEvent["event"] }, receivedAt);
        }
        return;
      }
      if (frame.op === "welcome" && this.welcomeWaiter) {
        this.welcomeWaiter(frame);
        this.welcomeWaiter = undefined;
        return;
      }
      if (frame.op === "synced" && frame.session !== undefined) {
        const waiter = this.syncWaiters.get(frame.session);
        if (waiter) {
          this.syncWaiters.delete(frame.session);
          waiter(frame);
          return;
        }
      }
      if (frame.rid !== undefined) {
        const reply = this.replies.get(frame.rid);
        if (reply) {
          this.replies.delete(frame.rid);
          reply(frame);
          return;
        }
      }
      this.unexpected++;
      this.lastUnexpected = frame;
    });
    ws.on("error", () => {});
    this.closedPromise = new Promise((resolve) =>
      ws.once("close", (code: number) => {
        this.closeCode = code;
        const closed: Frame = { op: "closed", code };
        for (const reply of this.replies.values()) reply(closed);
        for (const waiter of this.syncWaiters.values()) waiter(closed);
        this.welcomeWaiter?.(closed);
        this.replies.clear();
        this.syncWaiters.clear();
        resolve();
      }),
    );
  }

  /** Opens the socket, sends `hello` (msgpack) and resolves after `welcome`; rejects on anything else. */
  static async connect(
    url: string,
    token: string,
    onEvent: (event: BenchEvent, receivedAt: number) => void = () => {},
  ): Promise<GatewaySocket> {
    const ws = new WebSocket(url, ["threadline.v1"], { perMessageDeflate: false });
    const socket = new GatewaySocket(ws, onEvent);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const welcome = new Promise<Frame>((resolve) => {
      socket.welcomeWaiter = resolve;
    });
    socket.send({ op: "hello", token, accept: ["events"] });
    const reply = await welcome;
    if (reply.op !== "welcome") throw new Error(`hello failed: ${JSON.stringify(reply)}`);
    return socket;
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(encodeMsgpack(frame), { binary: true });
  }

  /** Sends a frame with a fresh `rid`; resolves with the reply (an `error` frame is a reply too). */
  request(frame: Record<string, unknown>): Promise<Frame> {
    const rid = ++this.rid;
    const reply = new Promise<Frame>((resolve) => this.replies.set(rid, resolve));
    this.send({ ...frame, rid });
    return reply;
  }

  /**
   * Attaches and resolves with the `synced` frame (after `attached` and the
   * replay). Register-then-send: the synced waiter exists before the frame
   * can arrive. Rejects on an error reply or a closed socket.
   */
  async attach(session: string, from: unknown): Promise<{ from: number; epoch: string; synced: number }> {
    const synced = new Promise<Frame>((resolve) => this.syncWaiters.set(session, resolve));
    const attached = await this.request({ op: "attach", session, from });
    if (attached.op !== "attached") {
      this.syncWaiters.delete(session);
      throw new Error(`attach ${session} failed: ${JSON.stringify(attached)}`);
    }
    const done = await synced;
    if (done.op !== "synced") throw new Error(`attach ${session}: no synced (${JSON.stringify(done)})`);
    return { from: attached.from as number, epoch: attached.epoch as string, synced: done.seq as number };
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Normal close; resolves when the socket is closed (or after 2 s, then terminates). */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    await this.closedPromise;
    clearTimeout(timer);
  }
}
