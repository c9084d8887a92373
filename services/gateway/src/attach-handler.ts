import {
  type AttachFrame,
  checkPositionEvent,
  checkResume,
  type DetachFrame,
  ErrorCode,
  isPosition,
  type Position,
  type StreamState,
  ThreadlineError,
} from "@threadline/protocol";
import { Attachment, type AttachmentSink } from "./attachment.ts";
import { can, type Principal } from "./auth.ts";
import type { ConnectionPort } from "./connection-port.ts";
import { cursorKey } from "./cursor-store.ts";
import { FeedRecord } from "./feed-record.ts";
import type { FeedRegistry } from "./feed-registry.ts";
import { HISTORY_LOSS_GRACE_MS, sessionOfSubject } from "./live-source.ts";
import { presenceOf } from "./presence-handler.ts";
import type { SessionFeed } from "./session-feed.ts";

/**
 * The attachments of one socket: `attach` (start position from the frame or
 * the server-held cursor, catch-up, live), `detach`, `ack` (cursor updates),
 * and releasing everything when the socket closes. At most
 * `limits.maxSessionsPerSocket` attachments (including attaches in progress).
 */
export class AttachHandler {
  private readonly attachments = new Map<string, Attachment>();
  /** Sessions with an attach in progress (counted against the per-socket limit). */
  private readonly attaching = new Set<string>();

  constructor(private readonly conn: ConnectionPort & AttachmentSink) {}

  has(session: string): boolean {
    return this.attachments.has(session);
  }

  /** The epoch of the session's feed when attached, else the stream's current epoch. */
  currentEpoch(session: string): string {
    return this.attachments.get(session)?.feed.currentEpoch ?? this.conn.ctx.epoch();
  }

  async attach(frame: AttachFrame): Promise<void> {
    const { rid, session } = frame;
    const conn = this.conn;
    const ctx = conn.ctx;
    const principal = conn.principal!;
    if (!can(principal, session, "read")) {
      conn.sendError(
        new ThreadlineError(ErrorCode.FORBIDDEN, `not allowed to read session ${session}`, { session }),
        rid,
      );
      return;
    }
    if (this.attaching.has(session)) {
      conn.sendError(
        new ThreadlineError(ErrorCode.INVALID_FRAME, `an attach to ${session} is already in progress`, { session }),
        rid,
      );
      return;
    }
    const existing = this.attachments.get(session);
    if (!existing && this.attachments.size + this.attaching.size >= ctx.limits.maxSessionsPerSocket) {
      conn.sendError(
        new ThreadlineError(
          ErrorCode.TOO_MANY_SESSIONS,
          `at most ${ctx.limits.maxSessionsPerSocket} sessions per socket`,
          {
            session,
          },
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
      feed = ctx.feeds.acquire(session);
      try {
        await feed.ready;
      } catch (error) {
        throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the session feed could not start; retry", {
          session,
          cause: error,
        });
      }
      const after = await this.resolveStart(frame, feed);
      if (conn.closed) {
        ctx.feeds.release(feed);
        return;
      }
      const attachment = new Attachment(
        session,
        feed,
        conn,
        ctx.history,
        { maxBuffered: ctx.attachmentBuffer, maxCatchUpAttempts: 5, history: frame.history ?? "full" },
        ctx.metrics,
        (a, error) => this.attachmentEnded(a, error),
        after,
      );
      this.attachments.set(session, attachment);
      ctx.presence.enter(presenceOf(conn, session));
      ctx.metrics.attachments.inc();
      feed.add(attachment);
      conn.sendFrame({ op: "attached", rid, session, epoch: feed.currentEpoch, from: after });
      ctx.log.debug({ session, user: principal.user, device: conn.device, from: after }, "attached");
      void attachment.catchUp();
    } catch (error) {
      if (feed) ctx.feeds.release(feed);
      const e =
        error instanceof ThreadlineError
          ? error
          : new ThreadlineError(ErrorCode.INTERNAL, "attach failed", { cause: error });
      if (!(error instanceof ThreadlineError)) ctx.log.error({ err: error, session }, "attach failed");
      conn.sendError(new ThreadlineError(e.code, e.message, { session, retryable: e.retryable }), rid);
    } finally {
      this.attaching.delete(session);
    }
  }

  /**
   * The seq after which the attachment starts. Throws INSUFFICIENT_STATE for
   * a position that cannot be continued: another epoch, expired events, a
   * seq beyond the stream's end, or (for a position naming its event) another
   * event stored at the seq. A server-held cursor that does not fit starts
   * from the whole history instead.
   */
  private async resolveStart(frame: AttachFrame, feed: SessionFeed): Promise<number> {
    const ctx = this.conn.ctx;
    const from = frame.from ?? "cursor";
    if (from === "now") return feed.lastSeq;
    if (from === "start") return 0;
    const position =
      from === "cursor" ? await ctx.cursors.get(frame.session, this.conn.principal!.user, this.conn.device) : from;
    const isCursor = from === "cursor";
    if (!position || !isPosition(position)) return 0;
    try {
      if (position.seq <= feed.lastSeq && position.epoch === feed.currentEpoch && feed.covers(position.seq)) {
        // Served from the feed's ring; it holds every event of the session after its base, so an event
        // the position names is either there at its seq, or the stream no longer has it there.
        if (position.id !== undefined && feed.covers(position.seq - 1)) {
          checkPositionEvent(position, feed.recordAt(position.seq)?.event.id);
        } else if (position.id !== undefined) {
          await this.checkStoredEvent(frame.session, position);
        }
        return position.seq;
      }
      const state = await this.streamStateReaching(position.seq);
      checkResume(position, state);
      if (position.id !== undefined) await this.checkStoredEvent(frame.session, position, state);
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

  /**
   * The stream's state, re-read (every 250 ms, for up to HISTORY_LOSS_GRACE_MS)
   * while its last seq is below `seq`: a new stream leader may report less
   * than it holds until it has applied its log. A stream still behind has
   * lost the events (checkResume then refuses the position).
   */
  private async streamStateReaching(seq: number): Promise<StreamState> {
    const history = this.conn.ctx.history;
    const deadline = Date.now() + HISTORY_LOSS_GRACE_MS;
    for (;;) {
      const state = await history.streamState();
      if (state.lastSeq >= seq || Date.now() >= deadline || this.conn.closed) return state;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /**
   * Checks, at the stream leader, that the event the position names is still
   * stored at its seq (unless retention removed it since).
   */
  private async checkStoredEvent(session: string, position: Position, known?: StreamState): Promise<void> {
    const history = this.conn.ctx.history;
    const state = known ?? (await history.streamState());
    if (position.seq > 0 && position.seq < state.firstSeq) return checkPositionEvent(position, undefined, true);
    const stored = position.seq > 0 ? await history.messageAt(position.seq) : undefined;
    const ofSession =
      stored && sessionOfSubject(stored.subject) === session
        ? FeedRecord.decode(session, position.seq, stored.subject, stored.data)?.event.id
        : undefined;
    checkPositionEvent(position, ofSession);
  }

  detach(frame: DetachFrame): void {
    const conn = this.conn;
    const attachment = this.attachments.get(frame.session);
    if (!attachment) {
      conn.sendError(
        new ThreadlineError(ErrorCode.NOT_ATTACHED, `not attached to ${frame.session}`, { session: frame.session }),
        frame.rid,
      );
      return;
    }
    this.attachments.delete(frame.session);
    this.release(attachment);
    conn.ctx.presence.leave(presenceOf(conn, frame.session), "left");
    void conn.ctx.cursors.flush([this.cursorKeyFor(frame.session)]);
    conn.sendFrame({ op: "detached", rid: frame.rid, session: frame.session });
  }

  /** A cursor write; errors carry `session`, and the frame's `rid` when it had one (§7.1: ack needs none). */
  ack(session: string, seq: number, rid?: number): void {
    const conn = this.conn;
    const attachment = this.attachments.get(session);
    if (!attachment) {
      conn.sendError(new ThreadlineError(ErrorCode.NOT_ATTACHED, `not attached to ${session}`, { session }), rid);
      return;
    }
    if (seq > attachment.lastSent) {
      conn.sendError(
        new ThreadlineError(
          ErrorCode.INVALID_POSITION,
          `ack of seq ${seq} beyond the last delivered seq ${attachment.lastSent}`,
          { session },
        ),
        rid,
      );
      return;
    }
    conn.ctx.cursors.set(session, conn.principal!.user, conn.device, { epoch: attachment.feed.currentEpoch, seq });
  }

  /** After a refresh with narrower grants, ends attachments the new token may no longer read. */
  dropUnreadable(principal: Principal): void {
    for (const attachment of [...this.attachments.values()]) {
      if (can(principal, attachment.session, "read")) continue;
      this.attachmentEnded(
        attachment,
        new ThreadlineError(ErrorCode.FORBIDDEN, `the refreshed token no longer grants read on ${attachment.session}`),
      );
    }
  }

  /** The socket closed: releases every attachment (presence leave `closed`) and flushes their cursors. */
  closeAll(): void {
    const keys: string[] = [];
    for (const attachment of this.attachments.values()) {
      keys.push(this.cursorKeyFor(attachment.session));
      this.release(attachment);
      this.conn.ctx.presence.leave(presenceOf(this.conn, attachment.session), "closed");
    }
    this.attachments.clear();
    if (keys.length > 0) void this.conn.ctx.cursors.flush(keys);
  }

  private attachmentEnded(attachment: Attachment, error: ThreadlineError): void {
    if (this.attachments.get(attachment.session) !== attachment) return;
    this.attachments.delete(attachment.session);
    this.release(attachment);
    this.conn.ctx.log.info(
      { session: attachment.session, user: this.conn.principal?.user, device: this.conn.device, code: error.code },
      "attachment ended by the gateway",
    );
    this.conn.ctx.presence.leave(presenceOf(this.conn, attachment.session), "left");
    this.conn.sendFrame({
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
    this.conn.ctx.feeds.release(attachment.feed);
    this.conn.ctx.metrics.attachments.dec();
  }

  private cursorKeyFor(session: string): string {
    return cursorKey(session, this.conn.principal?.user ?? "", this.conn.device);
  }
}
