import {
  type AttachFrame,
  type DetachFrame,
  ErrorCode,
  type Position,
  type StateFrame,
  sessionOfSubject,
  ThreadlineError,
} from "@threadline/protocol";
import { cursorKey, sleep } from "@threadline/store";
import { Attachment, type AttachmentSink } from "./attachment.ts";
import { can, type Principal } from "./auth.ts";
import type { ConnectionPort } from "./connection-port.ts";
import { FeedRecord } from "./feed-record.ts";
import type { FeedRegistry } from "./feed-registry.ts";
import { presenceOf } from "./presence-handler.ts";
import type { SessionFeed } from "./session-feed.ts";
import { HISTORY_LOSS_GRACE_MS, resolveStartStep, type StartFacts } from "./start-resolution.ts";

/**
 * The attachments of one socket: `attach` (start position from the frame or
 * the server-held cursor, catch-up, live), `detach`, `ack` (cursor updates),
 * and releasing everything when the socket closes. At most
 * `limits.maxSessionsPerSocket` attachments (including attaches in progress).
 */
export class AttachHandler {
  private readonly attachments = new Map<string, Attachment>();
  /**
   * Sessions with an attach in progress (counted against the per-socket limit); created by an attach
   * and dropped when none is in progress, so an idle socket does not hold an empty Set.
   */
  private attaching: Set<string> | undefined;

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
    const principal = this.conn.authenticated();
    if (!can(principal, session, "read")) {
      conn.sendError(
        new ThreadlineError(ErrorCode.FORBIDDEN, `not allowed to read session ${session}`, { session }),
        rid,
      );
      return;
    }
    if (this.attaching?.has(session)) {
      conn.sendError(
        new ThreadlineError(ErrorCode.ATTACH_IN_PROGRESS, `an attach to ${session} is already in progress`, {
          session,
        }),
        rid,
      );
      return;
    }
    const existing = this.attachments.get(session);
    if (!existing && this.attachments.size + (this.attaching?.size ?? 0) >= ctx.limits.maxSessionsPerSocket) {
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
    this.attaching ??= new Set();
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
      // The state as of `after` (PROTOCOL.md §19.5), read before the attachment exists: nothing of the
      // session is sent until `attached` and this snapshot are out, and the catch-up starts after `after`.
      const objects = frame.state ? await this.snapshot(session, after) : undefined;
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
      // Synchronous with `attached`: the attachment sends events only from its catch-up, which starts below.
      if (objects) conn.sendFrame({ op: "state", session, seq: after, objects } satisfies StateFrame);
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
      this.attaching?.delete(session);
      if (this.attaching?.size === 0) this.attaching = undefined;
    }
  }

  /**
   * The seq after which the attachment starts: drives the pure
   * `resolveStartStep` (start-resolution.ts), reading each fact it asks for.
   * Throws the `INSUFFICIENT_STATE` it decides on.
   */
  private async resolveStart(frame: AttachFrame, feed: SessionFeed): Promise<number> {
    const { session } = frame;
    const ctx = this.conn.ctx;
    const facts: StartFacts = {
      from: frame.from ?? "cursor",
      feed: {
        lastSeq: feed.lastSeq,
        epoch: feed.currentEpoch,
        covers: (seq) => feed.covers(seq),
        idAt: (seq) => feed.recordAt(seq)?.event.id,
      },
    };
    const graceEnds = Date.now() + HISTORY_LOSS_GRACE_MS;
    for (;;) {
      const step = resolveStartStep(facts);
      if (step.type === "start") return step.after;
      if (step.type === "refuse") throw new ThreadlineError(step.error.code, step.error.message, { session });
      if (step.delayMs) await sleep(step.delayMs);
      switch (step.fact) {
        case "cursor":
          facts.cursor = (await ctx.cursors.get(session, this.conn.authenticated().user, this.conn.device)) ?? null;
          break;
        case "state":
          facts.state = await ctx.history.streamState();
          facts.graceOver = Date.now() >= graceEnds || this.conn.closed;
          break;
        case "stored":
          facts.stored = await this.storedEventId(
            session,
            (facts.from === "cursor" ? facts.cursor : facts.from) as Position,
          );
          break;
      }
    }
  }

  /** Every state object of the session as of `seq`; a failed read is a retryable `UNAVAILABLE`. */
  private async snapshot(session: string, seq: number): Promise<StateFrame["objects"]> {
    try {
      return await this.conn.ctx.state.snapshot(session, seq);
    } catch (error) {
      if (error instanceof ThreadlineError && error.code === ErrorCode.UNAVAILABLE) throw error;
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the session state could not be read; retry", {
        session,
        cause: error,
      });
    }
  }

  /** The id of the session's event stored at `seq`, asked of the stream leader; null when none of the session is there. */
  private async storedEventId(session: string, position: Position): Promise<string | null> {
    const stored = await this.conn.ctx.history.messageAt(position.seq);
    if (!stored || sessionOfSubject(stored.subject) !== session) return null;
    return FeedRecord.decode(session, position.seq, stored.subject, stored.data)?.event.id ?? null;
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
    conn.ctx.cursors.set(session, this.conn.authenticated().user, conn.device, {
      epoch: attachment.feed.currentEpoch,
      seq,
    });
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
