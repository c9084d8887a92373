import type { WebSocket } from "uWebSockets.js";
import {
  type AttachFrame,
  type ClientFrame,
  CloseCode,
  checkResume,
  clientEventLane,
  type DetachFrame,
  decodeJson,
  decodeMsgpack,
  type Encoding,
  ErrorCode,
  encodedSize,
  encodeFrame,
  type HelloFrame,
  isPosition,
  type Limits,
  newId,
  PROTOCOL_VERSION,
  type PresenceFrame,
  type PublishFrame,
  presenceMetadataProblem,
  presenceStatusProblem,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";
import { Attachment, type AttachmentSink } from "./attachment.ts";
import { type Authenticator, can, describeEvent, type Principal, requiresOperator } from "./auth.ts";
import { type CursorStore, cursorKey } from "./cursor-store.ts";
import type { EventPublisher } from "./event-publisher.ts";
import type { FeedRecord } from "./feed-record.ts";
import type { FeedRegistry } from "./feed-registry.ts";
import { FrameError, parseClientFrame } from "./frame-schema.ts";
import type { HistoryReader } from "./history-reader.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { PresenceConnection, PresenceWriter } from "./presence-writer.ts";
import { TokenBucket } from "./token-bucket.ts";
import type { UserLimiter } from "./user-limiter.ts";

export interface ConnectionContext {
  limits: Limits;
  /** Limits shared by all sockets of a user on this gateway. */
  users: UserLimiter;
  auth: Authenticator;
  feeds: FeedRegistry;
  history: HistoryReader;
  cursors: CursorStore;
  publisher: EventPublisher;
  metrics: GatewayMetrics;
  log: Logger;
  /** Time a backed-up socket may stay above `maxBufferedBytes` before it is closed with 4001. */
  slowTimeoutMs: number;
  /** Live records an attachment buffers during a catch-up. */
  attachmentBuffer: number;
  /** The stream's current epoch (for `published` frames of sessions this socket is not attached to). */
  epoch(): string;
  /** Presence entries of this gateway's attachments (presence-writer.ts). */
  presence: PresenceWriter;
}

export interface SocketData {
  connection?: ClientConnection;
  upgradeToken: string | undefined;
  remote: string;
}

/** Frames tolerated while the `hello` token is being verified. */
const MAX_QUEUED_BEFORE_AUTH = 64;

const PROTOCOL_ERRORS: ReadonlySet<string> = new Set([
  ErrorCode.BAD_FRAME,
  ErrorCode.UNKNOWN_OP,
  ErrorCode.INVALID_FRAME,
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.UNAUTHENTICATED,
]);

/**
 * One WebSocket: authentication, frame validation, limits, and the socket's
 * attachments. Every client mistake gets a typed `error` frame; only
 * repeated violations (or auth failures) close the socket.
 */
export class ClientConnection implements AttachmentSink {
  readonly id = newId();
  encoding: Encoding = "msgpack";
  private principal: Principal | undefined;
  private device = "";
  private authenticating = false;
  private queued: { data: Uint8Array; binary: boolean }[] = [];
  private readonly attachments = new Map<string, Attachment>();
  /** Sessions with an attach in progress (counted against the per-socket limit). */
  private readonly attaching = new Set<string>();
  private readonly bucket: TokenBucket;
  private rateLimitedInARow = 0;
  private protocolErrors = 0;
  private pendingPublishes = 0;
  private closedFlag = false;
  /** The user this socket is counted for in `ctx.users` (set once authenticated). */
  private countedUser: string | undefined;
  private cleanedUp = false;
  private authTimer: ReturnType<typeof setTimeout> | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private drainWaiters: { resolve: (ok: boolean) => void; timer: ReturnType<typeof setTimeout> }[] = [];

  constructor(
    private readonly ws: WebSocket<SocketData>,
    private readonly ctx: ConnectionContext,
    private readonly upgradeToken: string | undefined,
  ) {
    this.bucket = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.frameBurst);
    this.authTimer = setTimeout(() => {
      if (!this.principal) this.close(CloseCode.AUTH_TIMEOUT, "no hello within the auth timeout");
    }, ctx.limits.authTimeoutMs);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get backedUp(): boolean {
    return !this.closedFlag && this.ws.getBufferedAmount() > this.ctx.limits.maxBufferedBytes;
  }

  // ---- uWS callbacks --------------------------------------------------------

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.closedFlag) return;
    if (message.byteLength > this.ctx.limits.maxFrameBytes) {
      this.protocolError(
        new FrameError(
          ErrorCode.FRAME_TOO_LARGE,
          `frame of ${message.byteLength} bytes exceeds maxFrameBytes ${this.ctx.limits.maxFrameBytes}`,
          undefined,
        ),
      );
      return;
    }
    // uWS neuters the buffer when this callback returns; decoded values must not alias it.
    const data = new Uint8Array(message.slice(0));
    if (!this.principal) {
      if (this.authenticating) {
        if (this.queued.length >= MAX_QUEUED_BEFORE_AUTH) {
          this.sendError(
            new ThreadlineError(ErrorCode.RATE_LIMITED, "too many frames before authentication completed"),
          );
          return;
        }
        this.queued.push({ data, binary: isBinary });
        return;
      }
      this.encoding = isBinary ? "msgpack" : "json";
    }
    this.handleData(data, isBinary);
  }

  onDrain(): void {
    if (this.backedUp) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.resolve(true);
    }
  }

  /** The socket is gone (any reason). Releases everything it held. */
  onClose(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    this.closedFlag = true;
    if (this.countedUser !== undefined) this.ctx.users.releaseSocket(this.countedUser);
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    for (const w of this.drainWaiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.drainWaiters = [];
    const keys: string[] = [];
    for (const attachment of this.attachments.values()) {
      keys.push(this.cursorKeyFor(attachment.session));
      this.release(attachment);
      this.ctx.presence.leave(this.presenceOf(attachment.session), "closed");
    }
    this.attachments.clear();
    if (keys.length > 0) void this.ctx.cursors.flush(keys);
  }

  /** Closes the socket with a close code from the protocol table. */
  close(code: number, reason: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    try {
      this.ws.end(code, reason.slice(0, 120));
    } catch {
      // Already closed by the peer; the close callback does the cleanup.
    }
  }

  // ---- AttachmentSink ---------------------------------------------------------

  sendEvent(record: FeedRecord): "sent" | "dropped" {
    if (this.closedFlag) return "dropped";
    const status = this.ws.send(record.frame(this.encoding), this.encoding === "msgpack");
    if (status === 2) return "dropped";
    this.ctx.metrics.eventsDelivered.inc();
    return "sent";
  }

  sendFrame(frame: object): void {
    if (this.closedFlag) return;
    this.ws.send(encodeFrame(frame, this.encoding), this.encoding === "msgpack");
  }

  cork<T>(send: () => T): T {
    if (this.closedFlag) return send();
    let result: T | undefined;
    this.ws.cork(() => {
      result = send();
    });
    return result as T;
  }

  waitDrain(): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(false);
    if (!this.backedUp) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ctx.metrics.slowCloses.inc();
        this.close(CloseCode.SLOW_CONSUMER, "socket stayed backed up; reconnect and resume");
        this.onClose();
      }, this.ctx.slowTimeoutMs);
      this.drainWaiters.push({ resolve, timer });
    });
  }

  // ---- frame handling ---------------------------------------------------------

  private handleData(data: Uint8Array, isBinary: boolean): void {
    let frame: ClientFrame;
    try {
      let decoded: unknown;
      try {
        decoded = isBinary ? decodeMsgpack(data) : decodeJson(data);
      } catch (error) {
        throw new FrameError(
          ErrorCode.BAD_FRAME,
          `malformed ${isBinary ? "msgpack" : "JSON"}: ${error instanceof Error ? error.message : String(error)}`.slice(
            0,
            200,
          ),
          undefined,
        );
      }
      frame = parseClientFrame(decoded);
    } catch (error) {
      this.protocolError(
        error instanceof FrameError ? error : new FrameError(ErrorCode.BAD_FRAME, "unreadable frame", undefined),
      );
      return;
    }
    const rid = "rid" in frame ? frame.rid : undefined;
    if (!this.bucket.take()) {
      this.ctx.metrics.clientErrors.inc({ code: ErrorCode.RATE_LIMITED });
      if (++this.rateLimitedInARow > this.ctx.limits.maxRateLimitedFrames) {
        this.close(CloseCode.FLOOD, "frame rate limit exceeded repeatedly");
        return;
      }
      this.sendError(
        new ThreadlineError(
          ErrorCode.RATE_LIMITED,
          `more than ${this.ctx.limits.framesPerSecond} frames/s (burst ${this.ctx.limits.frameBurst})`,
        ),
        rid,
      );
      return;
    }
    this.rateLimitedInARow = 0;
    if (frame.op === "hello") {
      void this.onHello(frame);
      return;
    }
    if (!this.principal) {
      this.protocolError(new FrameError(ErrorCode.UNAUTHENTICATED, "send hello with a token first", rid));
      return;
    }
    switch (frame.op) {
      case "attach":
        void this.onAttach(frame);
        return;
      case "detach":
        this.onDetach(frame);
        return;
      case "publish":
        this.onPublish(frame);
        return;
      case "ack":
        this.onAck(frame.session, frame.seq);
        return;
      case "ping":
        this.sendFrame({ op: "pong", rid: frame.rid, ts: Date.now() });
        return;
      case "presence":
        this.onPresence(frame);
        return;
    }
  }

  private async onHello(frame: HelloFrame): Promise<void> {
    const refresh = this.principal !== undefined;
    const token = frame.token ?? (refresh ? undefined : this.upgradeToken);
    if (!token) {
      if (refresh) this.sendError(new ThreadlineError(ErrorCode.INVALID_FRAME, "hello: a token refresh needs `token`"));
      else
        this.authFailed(
          new ThreadlineError(
            ErrorCode.AUTH_FAILED,
            "no token: send it in hello or as Authorization: Bearer on the upgrade",
          ),
        );
      return;
    }
    this.authenticating = true;
    let principal: Principal;
    try {
      principal = await this.ctx.auth.verify(token);
    } catch (error) {
      this.authenticating = false;
      const e = error instanceof ThreadlineError ? error : new ThreadlineError(ErrorCode.AUTH_FAILED, "invalid token");
      if (refresh) this.sendError(e);
      else this.authFailed(e);
      return;
    }
    this.authenticating = false;
    if (this.closedFlag) return;
    if (refresh && principal.user !== this.principal?.user) {
      this.sendError(new ThreadlineError(ErrorCode.AUTH_FAILED, "a refreshed token must name the same user"));
      return;
    }
    if (!refresh && !this.ctx.users.acquireSocket(principal.user)) {
      this.sendError(
        new ThreadlineError(
          ErrorCode.TOO_MANY_CONNECTIONS,
          `user ${principal.user} already has the maximum number of sockets on this gateway`,
        ),
      );
      this.close(CloseCode.TOO_MANY_CONNECTIONS, "too many sockets for this user");
      return;
    }
    if (!refresh) this.countedUser = principal.user;
    this.principal = principal;
    if (refresh) this.dropUnreadable(principal);
    if (!refresh) {
      clearTimeout(this.authTimer);
      this.device = frame.device ?? `c-${this.id}`;
    }
    this.scheduleExpiry(principal);
    this.sendFrame({
      op: "welcome",
      version: PROTOCOL_VERSION,
      user: principal.user,
      kind: principal.kind,
      device: this.device,
      connection: this.id,
      limits: this.ctx.limits,
    });
    const queued = this.queued;
    this.queued = [];
    for (const q of queued) this.handleData(q.data, q.binary);
  }

  /** Closes the socket when the current token expires (unless a refresh replaced it first). */
  private scheduleExpiry(principal: Principal): void {
    clearTimeout(this.expiryTimer);
    if (principal.expiresAt === undefined) return;
    // setTimeout overflows above 2^31-1 ms (~24.8 days): re-check in steps.
    const delay = Math.min(Math.max(0, principal.expiresAt - Date.now()), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      if (this.principal !== principal) return;
      if (Date.now() < (principal.expiresAt ?? 0)) {
        this.scheduleExpiry(principal);
        return;
      }
      this.sendError(new ThreadlineError(ErrorCode.TOKEN_EXPIRED, "token expired; reconnect with a new token"));
      this.close(CloseCode.TOKEN_EXPIRED, "token expired");
    }, delay);
  }

  /** After a refresh with narrower grants, ends attachments the new token may no longer read. */
  private dropUnreadable(principal: Principal): void {
    for (const attachment of [...this.attachments.values()]) {
      if (can(principal, attachment.session, "read")) continue;
      this.attachmentEnded(
        attachment,
        new ThreadlineError(ErrorCode.FORBIDDEN, `the refreshed token no longer grants read on ${attachment.session}`),
      );
    }
  }

  private authFailed(error: ThreadlineError): void {
    this.ctx.metrics.authFailures.inc({ code: error.code });
    this.sendError(error);
    const code =
      error.code === ErrorCode.TOKEN_EXPIRED
        ? CloseCode.TOKEN_EXPIRED
        : error.code === ErrorCode.UNAVAILABLE // the key set (JWKS) could not be fetched: retry later
          ? CloseCode.UNAVAILABLE
          : CloseCode.AUTH_FAILED;
    this.close(code, error.message);
  }

  private async onAttach(frame: AttachFrame): Promise<void> {
    const { rid, session } = frame;
    const principal = this.principal!;
    if (!can(principal, session, "read")) {
      this.sendError(
        new ThreadlineError(ErrorCode.FORBIDDEN, `not allowed to read session ${session}`, { session }),
        rid,
      );
      return;
    }
    if (this.attaching.has(session)) {
      this.sendError(
        new ThreadlineError(ErrorCode.INVALID_FRAME, `an attach to ${session} is already in progress`, { session }),
        rid,
      );
      return;
    }
    const existing = this.attachments.get(session);
    if (!existing && this.attachments.size + this.attaching.size >= this.ctx.limits.maxSessionsPerSocket) {
      this.sendError(
        new ThreadlineError(
          ErrorCode.TOO_MANY_SESSIONS,
          `at most ${this.ctx.limits.maxSessionsPerSocket} sessions per socket`,
          { session },
        ),
        rid,
      );
      return;
    }
    // Attaching again replaces the previous attachment (e.g. to restart from another position).
    if (existing) {
      this.attachments.delete(session);
      this.release(existing);
    }
    this.attaching.add(session);
    let feed: ReturnType<FeedRegistry["acquire"]> | undefined;
    try {
      feed = this.ctx.feeds.acquire(session);
      try {
        await feed.ready;
      } catch (error) {
        throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the session feed could not start; retry", {
          session,
          cause: error,
        });
      }
      const after = await this.resolveStart(frame, feed.currentEpoch, feed.lastSeq, (seq) => feed!.covers(seq));
      if (this.closedFlag) {
        this.ctx.feeds.release(feed);
        return;
      }
      const attachment = new Attachment(
        session,
        feed,
        this,
        this.ctx.history,
        { maxBuffered: this.ctx.attachmentBuffer, maxCatchUpAttempts: 5 },
        this.ctx.metrics,
        (a, error) => this.attachmentEnded(a, error),
        after,
      );
      this.attachments.set(session, attachment);
      this.ctx.presence.enter(this.presenceOf(session));
      this.ctx.metrics.attachments.inc();
      feed.add(attachment);
      this.sendFrame({ op: "attached", rid, session, epoch: feed.currentEpoch, from: after });
      void attachment.catchUp();
    } catch (error) {
      if (feed) this.ctx.feeds.release(feed);
      const e =
        error instanceof ThreadlineError
          ? error
          : new ThreadlineError(ErrorCode.INTERNAL, "attach failed", { cause: error });
      if (!(error instanceof ThreadlineError)) this.ctx.log.error({ err: error, session }, "attach failed");
      this.sendError(new ThreadlineError(e.code, e.message, { session, retryable: e.retryable }), rid);
    } finally {
      this.attaching.delete(session);
    }
  }

  /** The seq after which the attachment starts. Throws INSUFFICIENT_STATE / INVALID_POSITION for unusable positions. */
  private async resolveStart(
    frame: AttachFrame,
    epoch: string,
    feedLast: number,
    inRing: (seq: number) => boolean,
  ): Promise<number> {
    const from = frame.from ?? "cursor";
    if (from === "now") return feedLast;
    if (from === "start") return 0;
    const position =
      from === "cursor" ? await this.ctx.cursors.get(frame.session, this.principal!.user, this.device) : from;
    const isCursor = from === "cursor";
    if (!position || !isPosition(position)) return 0;
    if (position.seq <= feedLast && position.epoch === epoch && inRing(position.seq)) return position.seq;
    try {
      checkResume(position, await this.ctx.history.streamState());
    } catch (error) {
      // A server-held cursor that no longer fits (stream recreated, events expired) falls back to the
      // whole stored history: the device has no local state that could be left inconsistent.
      if (isCursor) return 0;
      throw error instanceof ThreadlineError
        ? new ThreadlineError(error.code, error.message, { session: frame.session })
        : error;
    }
    return position.seq;
  }

  private onDetach(frame: DetachFrame): void {
    const attachment = this.attachments.get(frame.session);
    if (!attachment) {
      this.sendError(
        new ThreadlineError(ErrorCode.NOT_ATTACHED, `not attached to ${frame.session}`, { session: frame.session }),
        frame.rid,
      );
      return;
    }
    this.attachments.delete(frame.session);
    this.release(attachment);
    this.ctx.presence.leave(this.presenceOf(frame.session), "left");
    void this.ctx.cursors.flush([this.cursorKeyFor(frame.session)]);
    this.sendFrame({ op: "detached", rid: frame.rid, session: frame.session });
  }

  private onPublish(frame: PublishFrame): void {
    const { rid, session, event } = frame;
    const principal = this.principal!;
    const lane = clientEventLane(event.type);
    if (!lane) {
      this.sendError(
        new ThreadlineError(ErrorCode.EVENT_TYPE_NOT_ALLOWED, `clients cannot publish events of type ${event.type}`, {
          session,
        }),
        rid,
      );
      return;
    }
    const capability = lane === "in" ? "write" : "control";
    if (!can(principal, session, capability)) {
      this.sendError(
        new ThreadlineError(
          ErrorCode.FORBIDDEN,
          `not allowed to ${capability === "write" ? "write to" : "control"} session ${session}`,
          { session },
        ),
        rid,
      );
      return;
    }
    if (requiresOperator(event.type, event.data) && principal.kind !== "operator") {
      this.sendError(
        new ThreadlineError(
          ErrorCode.FORBIDDEN,
          `only operators may publish ${describeEvent(event.type, event.data)}`,
          {
            session,
          },
        ),
        rid,
      );
      return;
    }
    if (!this.ctx.users.takeEvent(principal.user)) {
      this.sendError(
        new ThreadlineError(ErrorCode.RATE_LIMITED, `user ${principal.user} publishes too fast (across all sockets)`, {
          session,
        }),
        rid,
      );
      return;
    }
    const size = encodedSize(event.data);
    if (size > this.ctx.limits.maxEventBytes) {
      this.sendError(
        new ThreadlineError(
          ErrorCode.EVENT_TOO_LARGE,
          `event data of ${size} bytes exceeds maxEventBytes ${this.ctx.limits.maxEventBytes}`,
          { session },
        ),
        rid,
      );
      return;
    }
    if (this.pendingPublishes >= this.ctx.limits.maxPendingPublishes) {
      this.sendError(
        new ThreadlineError(
          ErrorCode.TOO_MANY_PENDING,
          `more than ${this.ctx.limits.maxPendingPublishes} publishes awaiting acknowledgement`,
          { session },
        ),
        rid,
      );
      return;
    }
    const envelope: SessionEvent = {
      id: event.id ?? newId(),
      type: event.type,
      from: { kind: principal.kind, id: principal.user, device: this.device },
      ts: Date.now(),
      ...(event.turn === undefined ? {} : { turn: event.turn }),
      ...(event.ref === undefined ? {} : { ref: event.ref }),
      ...(event.data === undefined ? {} : { data: event.data }),
    };
    this.pendingPublishes++;
    this.ctx.publisher
      .publish(session, lane, envelope)
      .then(
        (result) => {
          this.ctx.metrics.publishes.inc({ result: result.duplicate ? "duplicate" : "stored" });
          this.sendFrame({
            op: "published",
            rid,
            session,
            id: envelope.id,
            seq: result.seq,
            epoch: this.currentEpoch(session),
            duplicate: result.duplicate,
          });
        },
        (error: unknown) => {
          this.ctx.metrics.publishes.inc({ result: "failed" });
          const e =
            error instanceof ThreadlineError
              ? error
              : new ThreadlineError(ErrorCode.PUBLISH_FAILED, "publish failed", { session });
          this.sendError(e, rid);
        },
      )
      .finally(() => {
        this.pendingPublishes--;
      });
  }

  private onAck(session: string, seq: number): void {
    const attachment = this.attachments.get(session);
    if (!attachment) {
      this.sendError(new ThreadlineError(ErrorCode.NOT_ATTACHED, `not attached to ${session}`, { session }));
      return;
    }
    if (seq > attachment.lastSent) {
      this.sendError(
        new ThreadlineError(
          ErrorCode.INVALID_POSITION,
          `ack of seq ${seq} beyond the last delivered seq ${attachment.lastSent}`,
          { session },
        ),
      );
      return;
    }
    this.ctx.cursors.set(session, this.principal!.user, this.device, { epoch: attachment.feed.currentEpoch, seq });
  }

  private currentEpoch(session: string): string {
    return this.attachments.get(session)?.feed.currentEpoch ?? this.ctx.epoch();
  }

  private attachmentEnded(attachment: Attachment, error: ThreadlineError): void {
    if (this.attachments.get(attachment.session) !== attachment) return;
    this.attachments.delete(attachment.session);
    this.release(attachment);
    this.ctx.presence.leave(this.presenceOf(attachment.session), "left");
    this.sendFrame({
      op: "detached",
      session: attachment.session,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
    });
  }

  private release(attachment: Attachment): void {
    attachment.close();
    attachment.feed.remove(attachment);
    this.ctx.feeds.release(attachment.feed);
    this.ctx.metrics.attachments.dec();
  }

  private onPresence(frame: PresenceFrame): void {
    const { rid, session } = frame;
    if (!this.attachments.has(session)) {
      this.sendError(new ThreadlineError(ErrorCode.NOT_ATTACHED, `not attached to ${session}`, { session }), rid);
      return;
    }
    const statusProblem = presenceStatusProblem(frame.status);
    const metadataProblem = presenceMetadataProblem(frame.metadata);
    if (statusProblem || metadataProblem) {
      const code = metadataProblem?.includes("exceeds") ? ErrorCode.EVENT_TOO_LARGE : ErrorCode.INVALID_FRAME;
      this.sendError(new ThreadlineError(code, `presence: ${statusProblem ?? metadataProblem}`, { session }), rid);
      return;
    }
    this.ctx.presence.update(this.presenceOf(session), frame.status, frame.metadata);
    this.sendFrame({ op: "presence_set", rid, session, status: frame.status });
  }

  /** This socket's presence in `session` (one KV entry per socket and session). */
  private presenceOf(session: string): PresenceConnection {
    return {
      session,
      kind: this.principal?.kind === "operator" ? "operator" : "user",
      id: this.principal?.user ?? "",
      device: this.device,
      connection: this.id,
    };
  }

  private cursorKeyFor(session: string): string {
    return cursorKey(session, this.principal?.user ?? "", this.device);
  }

  private protocolError(error: FrameError): void {
    this.sendError(error, error.rid);
    if (PROTOCOL_ERRORS.has(error.code) && ++this.protocolErrors > this.ctx.limits.maxProtocolErrors) {
      this.close(CloseCode.PROTOCOL_ERROR, "too many invalid frames");
    }
  }

  private sendError(error: ThreadlineError, rid?: number): void {
    this.ctx.metrics.clientErrors.inc({ code: error.code });
    this.sendFrame({ op: "error", ...error.toWire(rid) });
  }
}
