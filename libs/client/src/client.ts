// Over 400 lines: the connection lifecycle (handshake, pings, reconnects, transport fallback) and the per-session/request multiplexing share one connection's state; the transports themselves live in frame-connection.ts / http-connection.ts and the return to the WebSocket in websocket-probe.ts.
import {
  type AckFrame,
  type AttachFrom,
  type AttachHistory,
  type BackoffPolicy,
  backoffDelay,
  type ClientEvent,
  CloseCode,
  type ControlOwnerEntry,
  canRetry,
  checkSessionId,
  DEFAULT_LIMITS,
  ErrorCode,
  type ErrorFrame,
  isPosition,
  isRetryableClose,
  type Limits,
  type PresenceMember,
  type PublishedFrame,
  type ServerFrame,
  ThreadlineError,
  type WelcomeFrame,
} from "@threadline/protocol";
import { browserOffline, whenOnline } from "./browser-network.ts";
import type { AttachOptions, ThreadlineClient } from "./client-api.ts";
import { type ClientOptions, type ResolvedClientOptions, resolveClientOptions } from "./client-options.ts";
import { errorForClose } from "./close-errors.ts";
import { type ConnectionStatus, StatusFeed } from "./connection-status.ts";
import { type ConnectionEvents, type FrameConnection, HELLO_ACCEPT, openWebSocket } from "./frame-connection.ts";
import { GatewayHttp } from "./gateway-http.ts";
import { HttpConnection } from "./http-connection.ts";
import { createNotifications, type ThreadlineNotifications } from "./notifications.ts";
import { type PositionStorage, readPosition } from "./position-storage.ts";
import { type OutgoingEvent, PublishQueue, type PublishResult, type PublishTransport } from "./publish-queue.ts";
import { RequestTracker } from "./request-tracker.ts";
import { type SessionHandle, SessionHandleImpl, type SessionHost } from "./session-handle.ts";
import { controlSnapshot, presenceSnapshot, type ResourceTarget } from "./session-resources.ts";
import {
  attemptOutcome,
  nextTransport,
  probesWebSocket,
  type Transport,
  type TransportPlan,
  welcomeTimeoutMs,
} from "./transport-choice.ts";
import { WebSocketProbe } from "./websocket-probe.ts";

export type { AttachOptions, ThreadlineClient } from "./client-api.ts";

/**
 * Creates a client. Nothing connects until the first `attach()`.
 * @example
 *   const client = createClient({ url: "wss://gw.example/v1/ws", token: () => fetchToken(), device: tabId });
 */
export function createClient(options: ClientOptions): ThreadlineClient {
  return new Client(resolveClientOptions(options));
}

/** FLOOD (4003) asks clients to wait at least this long before reconnecting (PROTOCOL.md §12). */
const FLOOD_MIN_DELAY_MS = 5_000;

type RequestFrame =
  | { op: "attach"; session: string; from?: AttachFrom; history?: AttachHistory }
  | { op: "detach"; session: string }
  | { op: "presence"; session: string; status: string; metadata?: Record<string, unknown> }
  | { op: "publish"; session: string; event: OutgoingEvent }
  | { op: "ping" };

const noop = () => {};

class Client implements ThreadlineClient, SessionHost, PublishTransport {
  private readonly statusFeed = new StatusFeed();
  /** Live handles (and handles whose detach is still being sent), at most `limits.maxSessionsPerSocket`. */
  private readonly sessions = new Map<string, SessionHandleImpl>();
  private readonly requests = new RequestTracker();
  private readonly publishes: PublishQueue;
  private socket: FrameConnection | undefined;
  private welcomed = false;
  /** The transport of the next connection attempt (transport-choice.ts). */
  private plan: TransportPlan;
  /** The connection whose `welcome` did not come in time (an `auto` WebSocket that stalled). */
  private stalled: FrameConnection | undefined;
  /** `auto` on HTTP: tries the WebSocket again in the background. */
  private readonly probe: WebSocketProbe;
  private limitsValue: Limits = DEFAULT_LIMITS;
  /** Who the gateway says this client is (the latest `welcome`). */
  participant: { kind: string; id: string } | undefined;
  /** Reconnect attempts since the last `welcome` (0 while connected or on the first connection). */
  private attempt = 0;
  /** Index into `options.urls` of the endpoint the next connection attempt uses. */
  private urlIndex = 0;
  /** Bumped per connection attempt, so a stale token lookup does not open a socket. */
  private connectGeneration = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Removes the `online` listener of a reconnect waiting for the browser's network. */
  private stopWaitingOnline: () => void = noop;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  /** A connection-level `error` frame (e.g. AUTH_FAILED), reported with the close that follows it. */
  private serverError: ThreadlineError | undefined;
  private finished = false;
  private closing: Promise<void> | undefined;

  readonly notifications: ThreadlineNotifications;

  constructor(private readonly options: ResolvedClientOptions) {
    this.publishes = new PublishQueue(this, options.reconnect);
    this.plan = nextTransport(options.transport, undefined);
    this.probe = new WebSocketProbe({
      open: (events) => this.openSocket(events),
      token: options.token,
      device: options.device,
      retry: options.webSocketRetry,
      timeoutMs: options.fallbackAfterMs,
      welcomed: (socket, frame) => this.adoptProbe(socket, frame),
    });
    this.notifications = createNotifications(
      new GatewayHttp(options.httpBases, options.token, options.requestTimeoutMs),
    );
  }

  // ---- ThreadlineClient -----------------------------------------------------------

  get status(): ConnectionStatus {
    return this.statusFeed.status;
  }

  onStatus(cb: (status: ConnectionStatus) => void): () => void {
    return this.statusFeed.subscribe(cb);
  }

  statuses(): AsyncIterable<ConnectionStatus> {
    return this.statusFeed.iterate();
  }

  async attach(session: string, opts: AttachOptions = {}): Promise<SessionHandle> {
    if (this.finished) throw this.closedError();
    checkSessionId(session);
    if (opts.from !== undefined && !isAttachFrom(opts.from)) {
      throw new ThreadlineError(
        ErrorCode.INVALID_POSITION,
        'from must be a {epoch, seq} position, "start", "now" or "cursor"',
        {
          session,
        },
      );
    }
    const previous = this.sessions.get(session);
    if (previous && !previous.ended) {
      throw new ThreadlineError(
        ErrorCode.ALREADY_ATTACHED,
        `session ${session} is already attached by this client; use its handle or detach it first`,
        { session, retryable: false },
      );
    }
    if (!previous && this.sessions.size >= this.limitsValue.maxSessionsPerSocket) {
      throw new ThreadlineError(
        ErrorCode.TOO_MANY_SESSIONS,
        `at most ${this.limitsValue.maxSessionsPerSocket} sessions per client (limits.maxSessionsPerSocket)`,
        { session },
      );
    }
    if (opts.history !== undefined && opts.history !== "compact" && opts.history !== "full") {
      throw new ThreadlineError(ErrorCode.INVALID_FRAME, 'history must be "compact" or "full"', { session });
    }
    // The same default everywhere (an environment sniff made browsers and Node see different events).
    const history = opts.history ?? "full";
    const handle = new SessionHandleImpl(session, { autoAck: opts.autoAck ?? true, history }, this);
    this.sessions.set(session, handle);
    // The gateway must see a previous handle's detach before this attach.
    if (previous) await previous.detached;
    const from = opts.from ?? (await readPosition(this.options.storage, session));
    handle.start(from, opts.from === undefined);
    if (this.statusFeed.status.type === "idle") this.connect();
    else if (this.ready) handle.connectionReady();
    return handle.firstAttach;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    const flushes = [...this.sessions.values()].map((handle) => handle.flush());
    this.finish({ type: "closed", code: CloseCode.NORMAL, reason: "client closed" });
    this.closing = Promise.all(flushes).then(noop);
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- SessionHost / PublishTransport ------------------------------------------------

  get ready(): boolean {
    return this.welcomed && this.socket?.isOpen === true;
  }

  get limits(): Limits {
    return this.limitsValue;
  }

  get storage(): PositionStorage {
    return this.options.storage;
  }

  get reattachPolicy(): BackoffPolicy {
    return this.options.reconnect;
  }

  send(frame: AckFrame): boolean {
    const socket = this.socket;
    if (!socket || !this.ready) return false;
    return socket.send(frame);
  }

  request(frame: RequestFrame): { rid: number | undefined; reply: Promise<ServerFrame> } {
    const socket = this.socket;
    if (!socket || !this.ready) {
      const error = new ThreadlineError(ErrorCode.CLOSED, "not connected", { retryable: true });
      return { rid: undefined, reply: Promise.reject(error) };
    }
    let started: ReturnType<RequestTracker["start"]>;
    try {
      started = this.requests.start(this.options.requestTimeoutMs, frame.op);
    } catch (error) {
      return { rid: undefined, reply: Promise.reject(error) };
    }
    if (!socket.send({ ...frame, rid: started.rid })) {
      this.requests.reject(
        started.rid,
        new ThreadlineError(ErrorCode.CLOSED, "the socket is closing", { retryable: true }),
      );
    }
    return started;
  }

  async sendPublish(session: string, event: OutgoingEvent): Promise<PublishedFrame> {
    const reply = await this.request({ op: "publish", session, event }).reply;
    if (reply.op !== "published") {
      throw new ThreadlineError(ErrorCode.INTERNAL, `unexpected reply ${reply.op} to publish`, { session });
    }
    return reply;
  }

  publish(session: string, event: ClientEvent): Promise<PublishResult> {
    return this.publishes.publish(session, event);
  }

  presenceSnapshot(session: string): Promise<PresenceMember[]> {
    return presenceSnapshot(this.resourceTarget(), session);
  }

  controlSnapshot(session: string): Promise<ControlOwnerEntry | null> {
    return controlSnapshot(this.resourceTarget(), session);
  }

  /** The current gateway's WebSocket URL and the token, for its HTTP session resources. */
  private resourceTarget(): ResourceTarget {
    const urls = this.options.urls;
    return { wsUrl: urls[this.urlIndex % urls.length]!, token: this.options.token };
  }

  dropConnection(error: ThreadlineError): void {
    if (this.socket) this.dropSocket(this.socket, error);
  }

  release(handle: SessionHandleImpl): void {
    if (this.sessions.get(handle.id) === handle) this.sessions.delete(handle.id);
  }

  // ---- connection lifecycle ------------------------------------------------------

  private connect(): void {
    const generation = ++this.connectGeneration;
    this.statusFeed.set({ type: "connecting", attempt: this.attempt });
    void this.open(generation);
  }

  private async open(generation: number): Promise<void> {
    let token: string;
    const transport = this.plan.transport;
    try {
      token = await this.options.token();
      if (typeof token !== "string") throw new TypeError("the token function must return a string");
    } catch (error) {
      if (generation !== this.connectGeneration || this.finished) return;
      const e =
        error instanceof ThreadlineError
          ? error
          : new ThreadlineError(ErrorCode.UNAVAILABLE, "the token function failed", { cause: error, retryable: true });
      if (e.retryable) this.retry(e, undefined, { transport, immediate: false });
      else this.finish({ type: "closed", reason: e.message, error: e });
      return;
    }
    if (generation !== this.connectGeneration || this.finished) return;
    let connection: FrameConnection | undefined;
    const events: ConnectionEvents = {
      open: () => {
        if (connection && connection === this.socket)
          connection.send({
            op: "hello",
            ...(token ? { token } : {}),
            device: this.options.device,
            accept: HELLO_ACCEPT,
          });
      },
      frame: (frame) => {
        if (connection && connection === this.socket) this.onFrame(frame);
      },
      close: (code, reason) => {
        if (connection) this.socketLost(connection, code, reason, undefined);
      },
    };
    try {
      connection = transport === "http" ? this.openHttp(events) : this.openSocket(events);
    } catch (error) {
      const url = this.options.urls[this.urlIndex % this.options.urls.length];
      const e = new ThreadlineError(ErrorCode.CLOSED, `cannot open a WebSocket to ${url}`, {
        cause: error,
        retryable: false,
      });
      this.finish({ type: "closed", reason: e.message, error: e });
      return;
    }
    this.socket = connection;
    const { transport: mode, requestTimeoutMs, fallbackAfterMs } = this.options;
    const waitMs = welcomeTimeoutMs(mode, transport, requestTimeoutMs, fallbackAfterMs);
    const opened = connection;
    this.handshakeTimer = startTimer(waitMs, () => {
      this.stalled = opened;
      this.dropSocket(opened, new ThreadlineError(ErrorCode.TIMEOUT, `no welcome within ${waitMs} ms`));
    });
  }

  /** A WebSocket to the current gateway. */
  private openSocket(events: ConnectionEvents): FrameConnection {
    const urls = this.options.urls;
    return openWebSocket(this.options.WebSocket, urls[this.urlIndex % urls.length]!, this.options.encoding, events);
  }

  /** The HTTP transport to the current gateway. */
  private openHttp(events: ConnectionEvents): FrameConnection {
    const bases = this.options.httpBases;
    const options = {
      base: bases[this.urlIndex % bases.length]!,
      device: this.options.device,
      fetch: this.options.fetch,
      fallbackAfterMs: this.options.fallbackAfterMs,
    };
    return new HttpConnection(options, events);
  }

  /**
   * A WebSocket probe was welcomed while the client ran on HTTP: the HTTP
   * connection ends as if lost (requests in flight reject retryably and are
   * resent, publishes with their ids), and every session re-attaches on the
   * socket from its position — exactly once across the switch.
   */
  private adoptProbe(socket: FrameConnection, frame: WelcomeFrame): void {
    const previous = this.socket;
    if (this.finished || !previous) {
      socket.close(CloseCode.NORMAL, "not needed");
      return;
    }
    this.releaseConnection(
      previous,
      new ThreadlineError(ErrorCode.CLOSED, "moved to the WebSocket", { retryable: true }),
    );
    previous.close(CloseCode.NORMAL, "moved to the WebSocket");
    this.socket = socket;
    socket.bind({
      open: noop,
      frame: (next) => {
        if (socket === this.socket) this.onFrame(next);
      },
      close: (code, reason) => this.socketLost(socket, code, reason, undefined),
    });
    this.onWelcome(frame);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.op) {
      case "welcome":
        this.onWelcome(frame);
        return;
      case "attached":
        this.sessions.get(frame.session)?.handleAttached(frame);
        this.requests.resolve(frame.rid, frame);
        return;
      case "published":
      case "presence_set":
      case "pong":
        this.requests.resolve(frame.rid, frame);
        return;
      case "detached":
        if (frame.rid !== undefined) this.requests.resolve(frame.rid, frame);
        else this.sessions.get(frame.session)?.handleServerDetached(frame);
        return;
      case "event":
        this.sessions.get(frame.session)?.handleEvent(frame);
        return;
      case "events":
        // A catch-up batch (PROTOCOL.md §7.3): the same as one `event` frame per entry, in order.
        if (!Array.isArray(frame.seqs) || !Array.isArray(frame.events)) return;
        for (let i = 0; i < frame.seqs.length && i < frame.events.length; i++) {
          this.sessions
            .get(frame.session)
            ?.handleEvent({ op: "event", session: frame.session, seq: frame.seqs[i]!, event: frame.events[i]! });
        }
        return;
      case "state":
        this.sessions.get(frame.session)?.handleState(frame);
        return;
      case "synced":
        this.sessions.get(frame.session)?.handleSynced(frame);
        return;
      case "error":
        this.onErrorFrame(frame);
        return;
      default:
        // Unknown ops from a newer gateway are ignored (PROTOCOL.md §5.2).
        return;
    }
  }

  private onWelcome(frame: WelcomeFrame): void {
    this.limitsValue = mergeLimits(frame.limits);
    this.participant = { kind: String(frame.kind), id: String(frame.user) };
    if (this.welcomed) return; // the reply to a token refresh: nothing else changes
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.welcomed = true;
    this.attempt = 0;
    this.serverError = undefined;
    const transport: Transport = this.socket?.transport ?? "websocket";
    this.statusFeed.set({
      type: "connected",
      connection: String(frame.connection),
      user: String(frame.user),
      device: String(frame.device),
      transport,
    });
    if (!this.ready) return; // a status listener closed the client
    if (probesWebSocket(this.options.transport, transport)) this.probe.schedule();
    else this.probe.resetBackoff();
    this.schedulePing();
    // Attaches go out before resent publishes, in the order sessions were attached.
    for (const handle of [...this.sessions.values()]) handle.connectionReady();
    this.publishes.flush();
  }

  private onErrorFrame(frame: ErrorFrame): void {
    const session = typeof frame.session === "string" ? frame.session : undefined;
    const error = ThreadlineError.fromWire({
      code: String(frame.code),
      message: typeof frame.message === "string" ? frame.message : "",
      retryable: frame.retryable === true,
      ...(session === undefined ? {} : { session }),
    });
    if (typeof frame.rid === "number") {
      // A reply to a request (possibly one that already timed out: then it is dropped).
      this.requests.reject(frame.rid, error);
      return;
    }
    const handle = session === undefined ? undefined : this.sessions.get(session);
    if (handle) handle.handleError(error);
    else this.serverError = error;
  }

  private schedulePing(): void {
    const interval = this.options.pingIntervalMs;
    if (!(interval > 0)) return;
    const socket = this.socket;
    this.pingTimer = startTimer(interval, () => {
      this.pingTimer = undefined;
      if (socket !== this.socket || !this.ready) return;
      this.request({ op: "ping" }).reply.then(
        () => {
          if (socket === this.socket && this.welcomed) this.schedulePing();
        },
        (error: ThreadlineError) => {
          if (error.code === ErrorCode.TIMEOUT && socket === this.socket && socket) {
            this.dropSocket(
              socket,
              new ThreadlineError(ErrorCode.TIMEOUT, `no pong within ${this.options.requestTimeoutMs} ms`),
            );
          }
        },
      );
    });
  }

  /** The client gave up on `socket` (no welcome, no pong, attach timeout): close it and reconnect. */
  private dropSocket(socket: FrameConnection, error: ThreadlineError): void {
    if (socket !== this.socket) return;
    this.socketLost(socket, CloseCode.ABNORMAL, error.message, error);
    socket.close(CloseCode.RECONNECT, "reconnecting");
  }

  /** Forgets `socket` as the connection: timers stop, requests reject with `error`, sessions wait for the next. */
  private releaseConnection(socket: FrameConnection, error: ThreadlineError): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.welcomed = false;
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.pingTimer);
    this.handshakeTimer = undefined;
    this.pingTimer = undefined;
    this.requests.rejectAll(error);
    for (const handle of [...this.sessions.values()]) handle.connectionLost();
  }

  private socketLost(
    socket: FrameConnection,
    code: number,
    reason: string,
    localError: ThreadlineError | undefined,
  ): void {
    if (socket !== this.socket) return;
    const wasWelcomed = this.welcomed;
    const stalled = this.stalled === socket;
    const outcome = attemptOutcome({ welcomed: wasWelcomed, reached: socket.reached, stalled, code });
    this.stalled = undefined;
    this.probe.cancel();
    const closeText = `${code}${reason ? ` ${reason}` : ""}`;
    this.releaseConnection(
      socket,
      new ThreadlineError(ErrorCode.CLOSED, `connection lost (${closeText}) before the reply`, { retryable: true }),
    );
    if (this.finished) return;
    const error = localError ?? this.serverError ?? errorForClose(code, reason);
    this.serverError = undefined;
    // An expired token is final for that token, but a token function can supply a new one.
    const freshTokenHelps = code === CloseCode.TOKEN_EXPIRED && this.options.tokenRefreshable && wasWelcomed;
    if (!isRetryableClose(code) && !freshTokenHelps) {
      this.finish({ type: "closed", code, reason, error });
      return;
    }
    const plan = nextTransport(this.options.transport, { transport: socket.transport, outcome }, !browserOffline());
    this.retry(error, code, plan);
  }

  private retry(error: ThreadlineError, code: number | undefined, plan: TransportPlan): void {
    this.attempt++;
    this.plan = plan;
    // The next attempt goes to the next endpoint (a no-op with one URL); a fallback to HTTP stays on this one.
    if (!plan.immediate) this.urlIndex++;
    const policy = this.options.reconnect;
    if (!canRetry(this.attempt, policy)) {
      this.finish({
        type: "closed",
        ...(code === undefined ? {} : { code }),
        reason: "gave up reconnecting",
        error: new ThreadlineError(
          ErrorCode.UNAVAILABLE,
          `gave up after ${policy.maxAttempts} reconnect attempts: ${error.message}`,
          { cause: error, retryable: false },
        ),
      });
      return;
    }
    let delayMs = plan.immediate ? 0 : backoffDelay(this.attempt, policy);
    if (code === CloseCode.FLOOD) delayMs = Math.max(delayMs, FLOOD_MIN_DELAY_MS);
    this.statusFeed.set({ type: "reconnecting", attempt: this.attempt, delayMs, error });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.finished) return;
      // A browser without a network: an attempt now could only fail (token fetch, socket); wait for `online`.
      if (browserOffline()) this.stopWaitingOnline = whenOnline(() => this.connect());
      else this.connect();
    }, delayMs);
  }

  /** Final state: rejects everything pending and reports `status`. */
  private finish(status: Extract<ConnectionStatus, { type: "closed" }>): void {
    if (this.finished) return;
    this.finished = true;
    this.connectGeneration++;
    clearTimeout(this.reconnectTimer);
    this.stopWaitingOnline();
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.pingTimer);
    this.probe.cancel();
    const socket = this.socket;
    this.socket = undefined;
    this.welcomed = false;
    socket?.close(CloseCode.NORMAL, "client closed");
    const failure = status.error ?? this.closedError();
    this.requests.rejectAll(failure);
    this.publishes.failAll(failure);
    const handles = [...this.sessions.values()];
    this.sessions.clear();
    for (const handle of handles) handle.clientClosed(status.error);
    this.statusFeed.set(status);
  }

  private closedError(): ThreadlineError {
    return new ThreadlineError(ErrorCode.CLOSED, "the client is closed", { retryable: false });
  }
}

function isAttachFrom(value: unknown): value is AttachFrom {
  return value === "start" || value === "now" || value === "cursor" || isPosition(value);
}

/** The gateway's limits, with protocol defaults for anything missing or malformed. */
function mergeLimits(announced: unknown): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  if (typeof announced !== "object" || announced === null) return limits;
  for (const key of Object.keys(limits) as (keyof Limits)[]) {
    const value = (announced as Record<string, unknown>)[key];
    if (typeof value === "number" && value > 0) limits[key] = value;
  }
  return limits;
}

function startTimer(ms: number, fn: () => void): ReturnType<typeof setTimeout> | undefined {
  return ms > 0 && Number.isFinite(ms) ? setTimeout(fn, ms) : undefined;
}
