import type { WebSocket } from "uWebSockets.js";
import {
  type ClientFrame,
  CloseCode,
  decodeJson,
  decodeMsgpack,
  type Encoding,
  ErrorCode,
  encodeFrame,
  MAX_TOKEN_BYTES,
  msgpackExtensionType,
  newId,
  ThreadlineError,
} from "@threadline/protocol";
import { AttachHandler } from "./attach-handler.ts";
import type { AttachmentSink } from "./attachment.ts";
import type { Principal } from "./auth.ts";
import { type AuthHooks, ConnectionAuth } from "./connection-auth.ts";
import type { ConnectionContext, ConnectionPort } from "./connection-port.ts";
import { buildEventsFrame } from "./events-frame.ts";
import type { FeedRecord } from "./feed-record.ts";
import { FrameError, parseClientFrame, ridOf } from "./frame-schema.ts";
import { handlePresenceFrame } from "./presence-handler.ts";
import { PublishHandler } from "./publish-handler.ts";
import { TokenBucket } from "./token-bucket.ts";

export type { ConnectionContext } from "./connection-port.ts";

export interface SocketData {
  connection?: ClientConnection;
  upgradeToken: string | undefined;
  remote: string;
}

/**
 * Frames tolerated while the `hello` token is being verified; they are handled after `welcome`.
 * Each one beyond gets `RATE_LIMITED` (retryable) with its `rid`, so the client can send it again.
 */
const MAX_QUEUED_BEFORE_AUTH = 64;

const PROTOCOL_ERRORS: ReadonlySet<string> = new Set([
  ErrorCode.BAD_FRAME,
  ErrorCode.UNKNOWN_OP,
  ErrorCode.INVALID_FRAME,
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.UNAUTHENTICATED,
]);

/**
 * One WebSocket: frame decoding and validation, the frame rate limit, and
 * dispatch to the socket's handlers — authentication (connection-auth.ts),
 * attachments (attach-handler.ts), publishes (publish-handler.ts) and
 * presence (presence-handler.ts). Every client mistake gets a typed `error`
 * frame; only repeated violations (or auth failures) close the socket.
 *
 * Memory: a gateway holds thousands of mostly idle sockets, so state a socket
 * may never need (the pre-auth frame queue, the publish handler and its
 * state-op bucket, drain waiters) is created on first use, limits included;
 * callbacks are methods, not closures per socket.
 */
export class ClientConnection implements AttachmentSink, ConnectionPort, AuthHooks {
  readonly id = newId();
  encoding: Encoding = "msgpack";
  /** Frames received while `hello` is verified (at most MAX_QUEUED_BEFORE_AUTH); created by the first. */
  private queued: { data: Uint8Array; binary: boolean }[] | undefined;
  private readonly auth: ConnectionAuth;
  private readonly attachments: AttachHandler;
  /** Created by the first `publish` frame. */
  private publishHandler: PublishHandler | undefined;
  private readonly bucket: TokenBucket;
  private rateLimitedInARow = 0;
  private protocolErrors = 0;
  private closedFlag = false;
  private cleanedUp = false;
  /** Created by the first wait for a drain; emptied (not dropped) as waits resolve. */
  private drainWaiters: { resolve: (ok: boolean) => void; timer: ReturnType<typeof setTimeout> }[] | undefined;

  constructor(
    private readonly ws: WebSocket<SocketData>,
    readonly ctx: ConnectionContext,
    upgradeToken: string | undefined,
  ) {
    this.bucket = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.frameBurst);
    this.attachments = new AttachHandler(this);
    this.auth = new ConnectionAuth(this, upgradeToken, this);
  }

  private get publishes(): PublishHandler {
    this.publishHandler ??= new PublishHandler(this, (session) => this.attachments.currentEpoch(session));
    return this.publishHandler;
  }

  // ---- AuthHooks (called by this socket's ConnectionAuth) ---------------------

  dropUnreadable(principal: Principal): void {
    this.attachments.dropUnreadable(principal);
  }

  flushQueued(): void {
    const queued = this.queued;
    this.queued = undefined;
    if (queued) for (const q of queued) this.handleData(q.data, q.binary);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get principal(): Principal | undefined {
    return this.auth.principal;
  }

  authenticated(): Principal {
    const principal = this.auth.principal;
    if (!principal) throw new ThreadlineError(ErrorCode.INTERNAL, "a frame handler ran before authentication");
    return principal;
  }

  get device(): string {
    return this.auth.device;
  }

  get backedUp(): boolean {
    return !this.closedFlag && this.ws.getBufferedAmount() > this.ctx.limits.maxBufferedBytes;
  }

  // ---- uWS callbacks --------------------------------------------------------

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.closedFlag) return;
    if (message.byteLength > this.ctx.limits.maxFrameBytes) {
      if (!this.principal && !this.auth.authenticating) {
        // This can only be the `hello` (nothing else is accepted yet), and one this large can only carry an
        // oversized token: refuse it like any bad token instead of leaving an unauthenticated socket open.
        this.auth.refuse(
          new ThreadlineError(
            ErrorCode.AUTH_FAILED,
            `hello frame of ${message.byteLength} bytes exceeds maxFrameBytes ${this.ctx.limits.maxFrameBytes} (tokens are limited to ${MAX_TOKEN_BYTES} bytes)`,
          ),
        );
        return;
      }
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
      if (this.auth.authenticating) {
        this.queued ??= [];
        if (this.queued.length >= MAX_QUEUED_BEFORE_AUTH) this.refuseUnqueued(data, isBinary);
        else this.queued.push({ data, binary: isBinary });
        return;
      }
      this.encoding = isBinary ? "msgpack" : "json";
    }
    this.handleData(data, isBinary);
  }

  /** A frame beyond the queue of frames awaiting `welcome`: refused, with its `rid` so the client can resend it. */
  private refuseUnqueued(data: Uint8Array, isBinary: boolean): void {
    let decoded: unknown;
    try {
      decoded = isBinary ? decodeMsgpack(data) : decodeJson(data);
    } catch {
      // Unreadable: it would have been BAD_FRAME anyway; the error below goes out without a rid.
    }
    const session = (decoded as { session?: unknown } | undefined)?.session;
    this.sendError(
      new ThreadlineError(
        ErrorCode.RATE_LIMITED,
        `more than ${MAX_QUEUED_BEFORE_AUTH} frames while hello is being verified; send it again after welcome`,
        typeof session === "string" ? { session } : undefined,
      ),
      ridOf(decoded),
    );
  }

  onDrain(): void {
    const waiters = this.drainWaiters;
    if (!waiters?.length || this.backedUp) return;
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
    this.auth.release();
    const waiters = this.drainWaiters;
    this.drainWaiters = undefined;
    for (const w of waiters ?? []) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.attachments.closeAll();
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

  sendEvents(records: readonly FeedRecord[]): number {
    let sent = 0;
    if (!this.auth.frames.includes("events")) {
      while (sent < records.length && this.sendEvent(records[sent]!) === "sent") sent++;
      return sent;
    }
    const binary = this.encoding === "msgpack";
    while (sent < records.length && !this.closedFlag) {
      const { data, count } = buildEventsFrame(records, sent, this.encoding);
      if (this.ws.send(data, binary) === 2) break;
      this.ctx.metrics.eventsDelivered.inc(count);
      sent += count;
    }
    return sent;
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
      this.drainWaiters ??= [];
      this.drainWaiters.push({ resolve, timer });
    });
  }

  // ---- frame handling ---------------------------------------------------------

  private handleData(data: Uint8Array, isBinary: boolean): void {
    let frame: ClientFrame;
    // The frame's rid, echoed by every error about it; `ack` has no reply but a rid it carries is echoed too.
    let rid: number | undefined;
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
      if (isBinary) {
        const extension = msgpackExtensionType(data);
        if (extension !== undefined) {
          throw new FrameError(
            ErrorCode.BAD_FRAME,
            `msgpack extension type ${extension} is not allowed in frames (timestamps: send a number or string)`,
            ridOf(decoded),
          );
        }
      }
      frame = parseClientFrame(decoded);
      rid = "rid" in frame ? frame.rid : ridOf(decoded);
    } catch (error) {
      this.protocolError(
        error instanceof FrameError ? error : new FrameError(ErrorCode.BAD_FRAME, "unreadable frame", undefined),
      );
      return;
    }
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
      void this.auth.hello(frame);
      return;
    }
    if (!this.principal) {
      this.protocolError(new FrameError(ErrorCode.UNAUTHENTICATED, "send hello with a token first", rid));
      return;
    }
    switch (frame.op) {
      case "attach":
        void this.attachments.attach(frame);
        return;
      case "detach":
        this.attachments.detach(frame);
        return;
      case "publish":
        this.publishes.publish(frame);
        return;
      case "ack":
        this.attachments.ack(frame.session, frame.seq, rid);
        return;
      case "ping":
        this.sendFrame({ op: "pong", rid: frame.rid, ts: Date.now() });
        return;
      case "presence":
        handlePresenceFrame(this, this.attachments.has(frame.session), frame);
        return;
    }
  }

  private protocolError(error: FrameError): void {
    this.sendError(error, error.rid);
    if (PROTOCOL_ERRORS.has(error.code) && ++this.protocolErrors > this.ctx.limits.maxProtocolErrors) {
      this.close(CloseCode.PROTOCOL_ERROR, "too many invalid frames");
    }
  }

  sendError(error: ThreadlineError, rid?: number): void {
    this.ctx.metrics.clientErrors.inc({ code: error.code });
    this.sendFrame({ op: "error", ...error.toWire(rid) });
  }
}
