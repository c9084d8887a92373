import {
  type AttachFrame,
  type ClientFrame,
  DEFAULT_LIMITS,
  decodeJson,
  decodeMsgpack,
  type Encoding,
  encodeFrame,
  type HelloFrame,
  type Limits,
  type Participant,
  type PublishFrame,
  type SessionEvent,
  type StateObject,
  type StateOp,
} from "@threadline/protocol";
import { onTestFinished } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * A scripted stand-in for the gateway, for testing the client's state
 * machine (not the broker): a real `ws` WebSocketServer on port 0 whose
 * tests read the client's frames and write the gateway's replies by hand.
 * Test-only; not part of the package (it depends on `ws` and vitest).
 */
export class FakeGateway {
  readonly connections: FakeConnection[] = [];
  private readonly waiting: FakeConnection[] = [];
  private waiter: ((c: FakeConnection) => void) | undefined;

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
    private readonly options: { autoPong: boolean },
  ) {
    server.on("connection", (socket, request) => {
      const connection = new FakeConnection(socket, request.headers["sec-websocket-protocol"], this.options.autoPong);
      this.connections.push(connection);
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) waiter(connection);
      else this.waiting.push(connection);
    });
  }

  /** Starts a gateway on a random port; it is stopped when the current test finishes. */
  static async start(options: { autoPong?: boolean } = {}): Promise<FakeGateway> {
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    const address = server.address();
    if (typeof address !== "object" || address === null) throw new Error("no address");
    const gateway = new FakeGateway(server, `ws://127.0.0.1:${address.port}/v1/ws`, {
      autoPong: options.autoPong ?? true,
    });
    onTestFinished(() => gateway.close());
    return gateway;
  }

  /** The next socket the client opens. */
  nextConnection(timeoutMs = 5_000): Promise<FakeConnection> {
    const ready = this.waiting.shift();
    if (ready) return Promise.resolve(ready);
    return withTimeout(
      new Promise<FakeConnection>((resolve) => {
        this.waiter = resolve;
      }),
      timeoutMs,
      () => `no new connection within ${timeoutMs} ms (${this.connections.length} so far)`,
    );
  }

  /** The next socket the client opens, its `hello` answered with `welcome`. */
  async nextWelcomed(overrides: WelcomeOverrides = {}): Promise<FakeConnection> {
    const connection = await this.nextConnection();
    await connection.welcome(overrides);
    return connection;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export class FakeConnection {
  /** Every frame received, in order, with whether it came in a binary message. */
  readonly received: { frame: ClientFrame; binary: boolean }[] = [];
  /** Encoding of the first frame; the gateway answers in it (PROTOCOL.md §5.2). */
  encoding: Encoding | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly unread = new Map<string, ClientFrame[]>();
  private readonly waiters = new Map<string, (frame: ClientFrame) => void>();

  constructor(
    private readonly socket: WebSocket,
    readonly protocol: string | undefined,
    autoPong: boolean,
  ) {
    this.closed = new Promise((resolve) => {
      socket.on("close", (code, reason) => resolve({ code, reason: new TextDecoder().decode(reason) }));
    });
    socket.on("message", (data, isBinary) => {
      const bytes = data as Uint8Array;
      const frame = (isBinary ? decodeMsgpack(bytes) : decodeJson(new TextDecoder().decode(bytes))) as ClientFrame;
      this.encoding ??= isBinary ? "msgpack" : "json";
      this.received.push({ frame, binary: isBinary });
      if (autoPong && frame.op === "ping") {
        this.send({ op: "pong", rid: frame.rid, ts: Date.now() });
        return;
      }
      const waiter = this.waiters.get(frame.op);
      if (waiter) {
        this.waiters.delete(frame.op);
        waiter(frame);
        return;
      }
      const list = this.unread.get(frame.op) ?? [];
      list.push(frame);
      this.unread.set(frame.op, list);
    });
  }

  /** The next unread frame with `op` (frames of other ops stay unread). */
  take<Op extends ClientFrame["op"]>(op: Op, timeoutMs = 5_000): Promise<Extract<ClientFrame, { op: Op }>> {
    const frame = this.unread.get(op)?.shift();
    if (frame) return Promise.resolve(frame as Extract<ClientFrame, { op: Op }>);
    if (this.waiters.has(op)) throw new Error(`already waiting for ${op}`);
    return withTimeout(
      new Promise<Extract<ClientFrame, { op: Op }>>((resolve) => {
        this.waiters.set(op, resolve as (frame: ClientFrame) => void);
      }),
      timeoutMs,
      () => `no ${op} frame within ${timeoutMs} ms; received: ${JSON.stringify(this.received.map((r) => r.frame))}`,
    );
  }

  /** Every frame with `op` received so far (read or not). */
  all<Op extends ClientFrame["op"]>(op: Op): Extract<ClientFrame, { op: Op }>[] {
    return this.received.filter((r) => r.frame.op === op).map((r) => r.frame as Extract<ClientFrame, { op: Op }>);
  }

  send(frame: object): void {
    this.socket.send(encodeFrame(frame, this.encoding ?? "msgpack"));
  }

  /** Waits for `hello` and answers `welcome`. */
  async welcome(overrides: WelcomeOverrides = {}): Promise<HelloFrame> {
    const hello = await this.take("hello");
    this.send({
      op: "welcome",
      version: 1,
      user: overrides.user ?? "u1",
      kind: "user",
      device: hello.device ?? "c-1",
      connection: `conn-${Math.random().toString(36).slice(2)}`,
      limits: { ...DEFAULT_LIMITS, ...overrides.limits },
    });
    return hello;
  }

  /** Waits for `attach` and answers `attached {epoch, from}`. */
  async attached(epoch: string, from: number): Promise<AttachFrame> {
    const attach = await this.take("attach");
    this.answerAttach(attach, epoch, from);
    return attach;
  }

  /**
   * Answers an `attach` already taken with `attached {epoch, from}` and, when
   * it asked for one, the `state` snapshot at `from` (like the gateway,
   * PROTOCOL.md §19.5): `objects` (default: none).
   */
  answerAttach(attach: AttachFrame, epoch: string, from: number, objects: Record<string, StateObject> = {}): void {
    this.send({ op: "attached", rid: attach.rid, session: attach.session, epoch, from });
    if (attach.state === true) this.send({ op: "state", session: attach.session, seq: from, objects });
  }

  /** Sends one `state` event (`data`: the op) at `seq`, written by `from` (default: user u2 on another device). */
  stateEvent(
    session: string,
    seq: number,
    op: StateOp,
    from: Participant = { kind: "user", id: "u2" },
    id = `ev-${seq}`,
  ): void {
    this.send({ op: "event", session, seq, event: { id, type: "state", from, ts: 1, data: op } });
  }

  /** Answers `publish` with `published` at `seq` (of epoch `e1`). */
  published(publish: PublishFrame, seq: number, duplicate = false): void {
    const { rid, session, event } = publish;
    this.send({ op: "published", rid, session, id: event.id, seq, epoch: "e1", duplicate });
  }

  /**
   * Sends an `error` frame: the reply to `request` when it has a rid, else an
   * error about its session (or the connection, given `{}`).
   */
  error(request: { rid?: number; session?: string }, code: string, message: string, retryable = false): void {
    const { rid, session } = request;
    const about = { ...(rid === undefined ? {} : { rid }), ...(session === undefined ? {} : { session }) };
    this.send({ op: "error", ...about, code, message, retryable });
  }

  /** Sends `event` frames for `seqs` of `session`. */
  events(session: string, ...seqs: number[]): void {
    for (const seq of seqs) this.send({ op: "event", session, seq, event: sessionEvent(seq) });
  }

  /** Sends one `events` frame (a catch-up batch, PROTOCOL.md §7.3) for `seqs` of `session`. */
  batch(session: string, ...seqs: number[]): void {
    this.send({ op: "events", session, seqs, events: seqs.map(sessionEvent) });
  }

  synced(session: string, seq: number): void {
    this.send({ op: "synced", session, seq });
  }

  /** Abrupt loss: no close frame, the client sees 1006. */
  terminate(): void {
    this.socket.terminate();
  }

  close(code: number, reason = ""): void {
    this.socket.close(code, reason);
  }
}

export interface WelcomeOverrides {
  limits?: Partial<Limits>;
  user?: string;
}

/** A stored event whose text names its seq, for readable assertions. */
export function sessionEvent(seq: number): SessionEvent {
  return {
    id: `ev-${seq}`,
    type: "message.append",
    from: { kind: "agent", id: "a1" },
    ts: 1,
    data: { text: `#${seq}` },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(describe())), ms);
    }),
  ]);
}
