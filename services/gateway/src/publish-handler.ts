import {
  clientEventLane,
  controlEventProblem,
  ErrorCode,
  encodedSize,
  Lane,
  mayWriteObject,
  newId,
  type PublishFrame,
  previewStateOp,
  type SessionEvent,
  STATE_EVENT_TYPE,
  type StateOp,
  stateOpProblem,
  stateRejectionError,
  ThreadlineError,
} from "@threadline/protocol";
import { can, canWriteState, describeEvent, type Principal, requiresOperator } from "./auth.ts";
import type { ConnectionPort } from "./connection-port.ts";
import { TokenBucket } from "./token-bucket.ts";

/**
 * `publish` frames of one socket: the event type must be a client type, the
 * token must grant the lane's capability (`write` for `in`, `control` for
 * `ctl`), the user's cross-socket event rate, `maxEventBytes` and
 * `maxPendingPublishes` are enforced, inputs and control events must be
 * well-formed and pass the control state (control-gate.ts), state ops
 * (`write` on lane `st`) must be valid, writable by the author and its token,
 * within `maxStateOpsPerSecond` and pass the pre-check against the gateway's
 * view of the session's state (state-cache.ts, PROTOCOL.md §19.4); then the
 * event is stored with `from` stamped from the token and answered with
 * `published` (or a typed error; a refused event is not stored).
 */
export class PublishHandler {
  private pendingPublishes = 0;
  /**
   * State ops of this socket (PROTOCOL.md §19.4: `maxStateOpsPerSecond`, burst of one second's worth);
   * created by the first state op, full, as it would have been (most sockets never write state).
   */
  private stateOps: TokenBucket | undefined;

  constructor(
    private readonly conn: ConnectionPort,
    /** The epoch to report in `published` for a session. */
    private readonly epochOf: (session: string) => string,
  ) {}

  private stateRefusal(principal: Principal, session: string, data: unknown): ThreadlineError | undefined {
    const rate = this.conn.ctx.limits.maxStateOpsPerSecond;
    return stateRefusalOf(
      principal,
      session,
      data,
      () => {
        this.stateOps ??= new TokenBucket(rate, rate);
        return this.stateOps.take();
      },
      rate,
    );
  }

  publish(frame: PublishFrame): void {
    const { rid, session, event } = frame;
    const conn = this.conn;
    const ctx = conn.ctx;
    const principal = conn.authenticated();
    const lane = clientEventLane(event.type);
    if (!lane) {
      conn.sendError(
        new ThreadlineError(ErrorCode.EVENT_TYPE_NOT_ALLOWED, `clients cannot publish events of type ${event.type}`, {
          session,
        }),
        rid,
      );
      return;
    }
    const capability = lane === Lane.CTL ? "control" : "write";
    if (!can(principal, session, capability)) {
      conn.sendError(
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
      conn.sendError(
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
    if (event.type === STATE_EVENT_TYPE) {
      const refusal = this.stateRefusal(principal, session, event.data);
      if (refusal) {
        conn.sendError(refusal, rid);
        return;
      }
    }
    if (!ctx.users.takeEvent(principal.user)) {
      conn.sendError(
        new ThreadlineError(ErrorCode.RATE_LIMITED, `user ${principal.user} publishes too fast (across all sockets)`, {
          session,
        }),
        rid,
      );
      return;
    }
    const size = encodedSize(event.data);
    if (size > ctx.limits.maxEventBytes) {
      conn.sendError(
        new ThreadlineError(
          ErrorCode.EVENT_TOO_LARGE,
          `event data of ${size} bytes exceeds maxEventBytes ${ctx.limits.maxEventBytes}`,
          { session },
        ),
        rid,
      );
      return;
    }
    const problem = controlEventProblem(event.type, event);
    if (problem) {
      conn.sendError(new ThreadlineError(ErrorCode.INVALID_FRAME, `${event.type}: ${problem}`, { session }), rid);
      return;
    }
    if (this.pendingPublishes >= ctx.limits.maxPendingPublishes) {
      conn.sendError(
        new ThreadlineError(
          ErrorCode.TOO_MANY_PENDING,
          `more than ${ctx.limits.maxPendingPublishes} publishes awaiting acknowledgement`,
          { session },
        ),
        rid,
      );
      return;
    }
    const envelope: SessionEvent = {
      id: event.id ?? newId(),
      type: event.type,
      from: { kind: principal.kind, id: principal.user, device: conn.device },
      ts: Date.now(),
      ...(event.turn === undefined ? {} : { turn: event.turn }),
      ...(event.ref === undefined ? {} : { ref: event.ref }),
      ...(event.data === undefined ? {} : { data: event.data }),
    };
    this.pendingPublishes++;
    const stored =
      event.type === STATE_EVENT_TYPE
        ? ctx.state.write(
            session,
            envelope.id,
            (state) => {
              // The verdict the fold would reach were the op stored now: refuse what is certain to fail.
              const verdict = previewStateOp(state, envelope.data as StateOp, envelope.from);
              if (verdict !== "applied" && verdict !== "not_a_state_event") {
                throw stateRejectionError(verdict, (envelope.data as StateOp).object, session);
              }
            },
            () => ctx.publisher.publish(session, lane, envelope),
          )
        : ctx.control.admit(session, envelope).then(() => ctx.publisher.publish(session, lane, envelope));
    stored
      .then(
        (result) => {
          ctx.metrics.publishes.inc({ result: result.duplicate ? "duplicate" : "stored" });
          ctx.log.debug(
            { session, turn: envelope.turn, event: envelope.id, type: envelope.type, seq: result.seq },
            "client event stored",
          );
          conn.sendFrame({
            op: "published",
            rid,
            session,
            id: envelope.id,
            seq: result.seq,
            epoch: this.epochOf(session),
            duplicate: result.duplicate,
          });
        },
        (error: unknown) => {
          ctx.metrics.publishes.inc({ result: isRefusal(error) ? "refused" : "failed" });
          const e =
            error instanceof ThreadlineError
              ? error
              : new ThreadlineError(ErrorCode.PUBLISH_FAILED, "publish failed", { session });
          // Typed refusals (control state, limits) are the client's business; failed stores are ours,
          // and so is an id conflict (another author, or a foreign publisher, holds the dedupe key).
          const failedStore =
            e.code === ErrorCode.PUBLISH_FAILED ||
            e.code === ErrorCode.UNAVAILABLE ||
            e.code === ErrorCode.EVENT_ID_CONFLICT;
          ctx.log[failedStore ? "warn" : "debug"](
            { err: error, session, turn: envelope.turn, event: envelope.id, type: envelope.type, code: e.code },
            "client event not stored",
          );
          conn.sendError(e, rid);
        },
      )
      .finally(() => {
        this.pendingPublishes--;
      });
  }
}

/**
 * Why a state op may not be stored, checked before anything else costs (PROTOCOL.md §19.4):
 * malformed → INVALID_FRAME; an object the author's kind or token may not write → FORBIDDEN;
 * over the socket's `maxStateOpsPerSecond` → RATE_LIMITED (retryable).
 */
function stateRefusalOf(
  principal: Principal,
  session: string,
  data: unknown,
  takeToken: () => boolean,
  rate: number,
): ThreadlineError | undefined {
  const problem = stateOpProblem(data);
  if (problem) return new ThreadlineError(ErrorCode.INVALID_FRAME, `state: ${problem}`, { session });
  const object = (data as StateOp).object;
  if (!mayWriteObject(principal.kind, object)) {
    return new ThreadlineError(
      ErrorCode.FORBIDDEN,
      `${principal.kind}s may not write state object ${object} (agent- objects are written by agents and operators)`,
      { session },
    );
  }
  if (!canWriteState(principal, session, object)) {
    return new ThreadlineError(ErrorCode.FORBIDDEN, `the token does not grant writing state object ${object}`, {
      session,
    });
  }
  if (!takeToken()) {
    return new ThreadlineError(ErrorCode.RATE_LIMITED, `more than ${rate} state operations per second on this socket`, {
      session,
    });
  }
  return undefined;
}

/** A typed refusal by the control state (as opposed to a failed store). */
function isRefusal(error: unknown): boolean {
  return (
    error instanceof ThreadlineError && error.code !== ErrorCode.PUBLISH_FAILED && error.code !== ErrorCode.UNAVAILABLE
  );
}
