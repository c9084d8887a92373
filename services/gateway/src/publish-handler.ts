import {
  clientEventLane,
  controlEventProblem,
  ErrorCode,
  encodedSize,
  newId,
  type PublishFrame,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";
import { can, describeEvent, requiresOperator } from "./auth.ts";
import type { ConnectionPort } from "./connection-port.ts";

/**
 * `publish` frames of one socket: the event type must be a client type, the
 * token must grant the lane's capability (`write` for `in`, `control` for
 * `ctl`), the user's cross-socket event rate, `maxEventBytes` and
 * `maxPendingPublishes` are enforced, inputs and control events must be
 * well-formed and pass the control state (control-gate.ts), then the event
 * is stored with `from` stamped from the token and answered with
 * `published` (or a typed error; a refused event is not stored).
 */
export class PublishHandler {
  private pendingPublishes = 0;

  constructor(
    private readonly conn: ConnectionPort,
    /** The epoch to report in `published` for a session. */
    private readonly epochOf: (session: string) => string,
  ) {}

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
    const capability = lane === "in" ? "write" : "control";
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
    ctx.control
      .admit(session, envelope)
      .then(() => ctx.publisher.publish(session, lane, envelope))
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

/** A typed refusal by the control state (as opposed to a failed store). */
function isRefusal(error: unknown): boolean {
  return (
    error instanceof ThreadlineError && error.code !== ErrorCode.PUBLISH_FAILED && error.code !== ErrorCode.UNAVAILABLE
  );
}
