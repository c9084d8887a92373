import {
  type ClientFrame,
  CloseCode,
  ErrorCode,
  newId,
  type PresenceFrame,
  type PublishFrame,
  type ServerFrame,
  type ThreadlineError,
} from "@threadline/protocol";
import type { FetchLike } from "./client-options.ts";
import type { ConnectionEvents, FrameConnection } from "./frame-connection.ts";
import { errorOfResponse, jsonBody } from "./http-responses.ts";
import { HttpSessionRead, type LiveMode, type ReadHost } from "./http-session-read.ts";

export interface HttpConnectionOptions {
  /** The gateway's HTTP base, e.g. `https://gw.example.com` (httpBaseOf). */
  base: string;
  device: string;
  fetch: FetchLike;
  /** How long an SSE response may take to send its first event before reads switch to long-poll. */
  fallbackAfterMs: number;
}

/**
 * The HTTP transport (PROTOCOL.md §21.10): a `FrameConnection` that turns
 * the client's frames into requests to the gateway and their answers into
 * the frames a socket would have carried, so everything above it (session
 * handles, publish queue, resume) is the same on both transports.
 *
 * - `hello` → `GET /v1/welcome` → `welcome` (the connection is "reached"
 *   once the gateway answered);
 * - `attach` → an `HttpSessionRead` (catch-up `GET`, then SSE or long-poll
 *   live reads of `/v1/stream/<session>`), `detach` → it stops;
 * - `publish` → `POST /v1/stream/<session>` with the event (its id makes a
 *   resend idempotent, §9) → `published` or the refusal's `error`;
 * - `ping` → `pong` at once (liveness is the live reads' business: a read
 *   that stays silent past `LIVE_IDLE_MS` ends the connection);
 * - `ack` is not sent: device cursors are WebSocket-only (§21.9); the last
 *   ack is repeated after the next WebSocket re-attach;
 * - `presence` → `POST /v1/sessions/<session>/presence` → `presence_set`
 *   (a device reading a session live over HTTP is a presence member, §21.10).
 *
 * Every request carries `Authorization: Bearer`, `Threadline-Session: 1`
 * (a new session is an empty log, not 404) and `Threadline-Device`. A `401`
 * anywhere ends the connection like the gateway's 4500/4501 close; a network
 * failure like a dropped socket (1006). Replies are always asynchronous.
 */
export class HttpConnection implements FrameConnection, ReadHost {
  readonly transport = "http" as const;
  private events: ConnectionEvents | undefined;
  private closed = false;
  private reachedGateway = false;
  private token = "";
  private live: LiveMode = "sse";
  private readonly connection = `http-${newId()}`;
  private readonly reads = new Map<string, HttpSessionRead>();
  /** Requests in flight (welcome, publishes), aborted on close. */
  private readonly requests = new Set<AbortController>();

  constructor(
    private readonly options: HttpConnectionOptions,
    events: ConnectionEvents,
  ) {
    this.events = events;
    queueMicrotask(() => {
      if (!this.closed) this.events?.open();
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get reached(): boolean {
    return this.reachedGateway;
  }

  get liveMode(): LiveMode {
    return this.live;
  }

  get fallbackAfterMs(): number {
    return this.options.fallbackAfterMs;
  }

  send(frame: object): boolean {
    if (this.closed) return false;
    this.handle(frame as ClientFrame);
    return true;
  }

  bind(events: ConnectionEvents): void {
    if (!this.closed) this.events = events;
  }

  close(_code: number, _reason: string): void {
    this.shutdown();
  }

  // ---- ReadHost -------------------------------------------------------------

  get(session: string, query: string, signal: AbortSignal): Promise<Response> {
    return this.options.fetch(`${this.streamUrl(session)}?${query}`, { headers: this.headers(), signal });
  }

  snapshot(session: string, seq: number, signal: AbortSignal): Promise<Response> {
    const url = `${this.options.base}/v1/sessions/${encodeURIComponent(session)}/state/${seq}`;
    return this.options.fetch(url, { headers: this.authorization(), signal });
  }

  emit(frame: ServerFrame): void {
    if (!this.closed) this.events?.frame(frame);
  }

  lost(error: ThreadlineError | undefined): void {
    if (this.closed) return;
    const events = this.events;
    const code =
      error?.code === ErrorCode.TOKEN_EXPIRED
        ? CloseCode.TOKEN_EXPIRED
        : error?.code === ErrorCode.AUTH_FAILED
          ? CloseCode.AUTH_FAILED
          : error
            ? CloseCode.UNAVAILABLE
            : CloseCode.ABNORMAL;
    // Like the gateway's `error` frame before its close: the client reports it with the close.
    if (error) events?.frame({ op: "error", code: error.code, message: error.message, retryable: error.retryable });
    this.shutdown();
    events?.close(code, error ? error.message : "HTTP request failed (network)");
  }

  ended(read: HttpSessionRead): void {
    if (this.reads.get(read.session) === read) this.reads.delete(read.session);
  }

  useLongPoll(): void {
    this.live = "long-poll";
  }

  // ---- frames -----------------------------------------------------------------

  private handle(frame: ClientFrame): void {
    switch (frame.op) {
      case "hello":
        this.token = frame.token ?? "";
        void this.welcome();
        return;
      case "attach": {
        this.reads.get(frame.session)?.stop();
        const read = new HttpSessionRead(this, frame.session, frame.rid, frame.from, frame.state === true);
        this.reads.set(frame.session, read);
        read.start();
        return;
      }
      case "detach":
        this.reads.get(frame.session)?.stop();
        this.reads.delete(frame.session);
        this.later({ op: "detached", rid: frame.rid, session: frame.session });
        return;
      case "publish":
        void this.publish(frame);
        return;
      case "ping":
        this.later({ op: "pong", rid: frame.rid, ts: Date.now() });
        return;
      case "presence":
        void this.presence(frame);
        return;
      case "ack":
        return;
    }
  }

  private async welcome(): Promise<void> {
    // Only the token: the session API's CORS allows `Authorization` (and `Content-Type`), not Threadline-*.
    const answer = await this.request(`${this.options.base}/v1/welcome`, { headers: this.authorization() });
    if (!answer) return;
    this.reachedGateway = true;
    const { response, body } = answer;
    if (!response.ok) {
      this.lost(errorOfResponse(response.status, body));
      return;
    }
    const welcome = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    this.emit({
      op: "welcome",
      version: Number(welcome.version ?? 1),
      user: String(welcome.user ?? ""),
      kind: welcome.kind === "operator" ? "operator" : "user",
      device: this.options.device,
      connection: this.connection,
      limits: welcome.limits as never,
    });
  }

  private async publish(frame: PublishFrame): Promise<void> {
    const answer = await this.request(this.streamUrl(frame.session), {
      method: "POST",
      headers: { ...this.headers(), "Content-Type": "application/json" },
      body: JSON.stringify(frame.event),
    });
    if (!answer) return;
    const { response, body } = answer;
    const published = body as { id?: unknown; seq?: unknown; epoch?: unknown; duplicate?: unknown } | undefined;
    if (response.ok && typeof published?.seq === "number" && typeof published.epoch === "string") {
      this.emit({
        op: "published",
        rid: frame.rid,
        session: frame.session,
        id: String(published.id),
        seq: published.seq,
        epoch: published.epoch,
        duplicate: published.duplicate === true,
      });
      return;
    }
    const error = errorOfResponse(response.ok ? 502 : response.status, body, frame.session);
    if (error.code === ErrorCode.AUTH_FAILED || error.code === ErrorCode.TOKEN_EXPIRED) {
      this.lost(error);
      return;
    }
    this.emit({ op: "error", rid: frame.rid, ...error.toWire() });
  }

  /** `presence` → `POST /v1/sessions/<session>/presence` (the status of this device's live read, §21.10). */
  private async presence(frame: PresenceFrame): Promise<void> {
    const { session, status, metadata } = frame;
    // The status belongs to the entry of this device's live read: wait (bounded) until the read is open.
    const read = this.reads.get(session);
    if (read) await Promise.race([read.liveOpen, new Promise((resolve) => setTimeout(resolve, this.fallbackAfterMs))]);
    if (this.closed) return;
    const answer = await this.request(`${this.options.base}/v1/sessions/${encodeURIComponent(session)}/presence`, {
      method: "POST",
      headers: { ...this.authorization(), "Content-Type": "application/json" },
      body: JSON.stringify({ device: this.options.device, status, ...(metadata === undefined ? {} : { metadata }) }),
    });
    if (!answer) return;
    const { response, body } = answer;
    if (response.ok) {
      this.emit({ op: "presence_set", rid: frame.rid, session, status });
      return;
    }
    const error = errorOfResponse(response.status, body, session);
    if (error.code === ErrorCode.AUTH_FAILED || error.code === ErrorCode.TOKEN_EXPIRED) this.lost(error);
    else this.emit({ op: "error", rid: frame.rid, ...error.toWire() });
  }

  /** A request with its JSON answer; undefined when the connection closed or the network failed (then lost). */
  private async request(url: string, init: RequestInit): Promise<{ response: Response; body: unknown } | undefined> {
    const controller = new AbortController();
    this.requests.add(controller);
    try {
      const response = await this.options.fetch(url, { ...init, signal: controller.signal });
      return { response, body: await jsonBody(response) };
    } catch {
      if (!controller.signal.aborted) this.lost(undefined);
      return undefined;
    } finally {
      this.requests.delete(controller);
    }
  }

  private authorization(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  private headers(): Record<string, string> {
    return {
      ...this.authorization(),
      "Threadline-Session": "1",
      "Threadline-Device": this.options.device,
    };
  }

  private streamUrl(session: string): string {
    return `${this.options.base}/v1/stream/${encodeURIComponent(session)}`;
  }

  /** Emits a reply after the current call returns (a socket never answers synchronously either). */
  private later(frame: ServerFrame): void {
    queueMicrotask(() => this.emit(frame));
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.events = undefined;
    for (const read of this.reads.values()) read.stop();
    this.reads.clear();
    for (const controller of this.requests) controller.abort();
    this.requests.clear();
  }
}
