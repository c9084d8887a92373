import {
  type ControlCallEntry,
  ControlEventType,
  type ControlOwnerEntry,
  ErrorCode,
  type HandoffData,
  INPUT_EVENT_TYPE,
  isFinalTurnStatus,
  mayAnswerCall,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";
import type { ControlState } from "@threadline/store";
import type { GatewayMetrics } from "./metrics.ts";

/** Read → compare-and-set rounds before a contended control key gives up with UNAVAILABLE (retryable). */
const MAX_CAS_ROUNDS = 8;

/**
 * The gateway's side of live control (PROTOCOL.md §17): before a client
 * `input` or control event is stored, checks it against the control bucket
 * and writes the facts it establishes, so that every gateway agrees:
 * - `input` creates `<session>.turn.<id>` as `pending` (already there: kept);
 * - `cancel` / `steer` need an existing turn that has not ended
 *   (TURN_NOT_FOUND / TURN_ENDED); a cancel of a `pending` turn CASes it to
 *   `cancelled`, so a worker that picks the input up later does not run it;
 * - `tool.result` / `approval` need a pending call of the right kind
 *   (CALL_NOT_FOUND), a sender of an allowed kind (FORBIDDEN), and win the
 *   CAS `pending` → `answered` (CALL_ALREADY_ANSWERED / CALL_CLOSED); the
 *   event's `turn` is set to the call's turn;
 * - `handoff take` / `release` (operators only, checked before) write
 *   `<session>.owner`.
 * A refused event is not stored and leaves the bucket unchanged. Retrying an
 * accepted event with the same id passes again (it is deduplicated by the
 * stream), so a publish that failed after its KV write can be repeated.
 */
export class ControlGate {
  constructor(
    private readonly state: ControlState,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Resolves when `event` may be stored (possibly with `turn` filled in); throws a typed error otherwise. */
  async admit(session: string, event: SessionEvent): Promise<void> {
    try {
      await this.check(session, event);
    } catch (error) {
      // UNAVAILABLE is a failure to check (retryable), not a refusal.
      if (error instanceof ThreadlineError && error.code !== ErrorCode.UNAVAILABLE) {
        this.metrics.controlRefusals.inc({ type: event.type, code: error.code });
      }
      throw error;
    }
  }

  private async check(session: string, event: SessionEvent): Promise<void> {
    switch (event.type) {
      case INPUT_EVENT_TYPE:
        await this.state.createTurn(session, event.id, { status: "pending", updatedAt: Date.now() });
        return;
      case ControlEventType.CANCEL:
        return this.cancel(session, event);
      case ControlEventType.STEER:
        await this.liveTurn(session, event.turn!);
        return;
      case ControlEventType.TOOL_RESULT:
      case ControlEventType.APPROVAL:
        return this.answer(session, event);
      case ControlEventType.HANDOFF:
        return this.handoff(session, event as SessionEvent<HandoffData>);
    }
  }

  private async cancel(session: string, event: SessionEvent): Promise<void> {
    const turn = event.turn!;
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const current = await this.state.getTurn(session, turn);
      if (current?.value.cancelEvent === event.id) return; // a retry of the cancel that ended it
      const entry = this.notEnded(session, turn, current?.value);
      // A running turn is stopped by its worker when it sees the stored cancel.
      if (entry.status !== "pending") return;
      const next = { ...entry, status: "cancelled" as const, updatedAt: Date.now(), cancelEvent: event.id };
      if ((await this.state.casTurn(session, turn, next, current!.revision)) !== undefined) return;
    }
    throw contended(session, `turn ${turn}`);
  }

  private async liveTurn(session: string, turn: string): Promise<void> {
    this.notEnded(session, turn, (await this.state.getTurn(session, turn))?.value);
  }

  private notEnded<T extends { status: string }>(session: string, turn: string, entry: T | undefined): T {
    if (!entry)
      throw new ThreadlineError(ErrorCode.TURN_NOT_FOUND, `session ${session} has no turn ${turn}`, { session });
    if (isFinalTurnStatus(entry.status)) {
      throw new ThreadlineError(ErrorCode.TURN_ENDED, `turn ${turn} has already ended (${entry.status})`, { session });
    }
    return entry;
  }

  private async answer(session: string, event: SessionEvent): Promise<void> {
    const call = event.ref!;
    const kind = event.type === ControlEventType.TOOL_RESULT ? "tool" : "approval";
    const what = kind === "tool" ? "tool call" : "approval request";
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const current = await this.state.getCall(session, call);
      const entry = current?.value;
      if (!entry || entry.kind !== kind) {
        throw new ThreadlineError(ErrorCode.CALL_NOT_FOUND, `session ${session} has no ${what} ${call}`, { session });
      }
      if (event.turn !== undefined && event.turn !== entry.turn) {
        throw new ThreadlineError(
          ErrorCode.INVALID_FRAME,
          `call ${call} belongs to turn ${entry.turn}, not ${event.turn}`,
          {
            session,
          },
        );
      }
      if (!mayAnswerCall(event.from.kind, entry)) {
        throw new ThreadlineError(
          ErrorCode.FORBIDDEN,
          `${event.from.kind}s may not answer ${what} ${call} (approvers: ${(entry.approvers ?? []).join(", ")})`,
          { session },
        );
      }
      event.turn = entry.turn;
      if (entry.status === "answered") {
        if (entry.answer === event.id) return; // a retry of the accepted answer
        throw new ThreadlineError(ErrorCode.CALL_ALREADY_ANSWERED, `${what} ${call} was already answered`, { session });
      }
      const now = Date.now();
      if (entry.status === "closed" || entry.deadline < now) {
        const why = entry.status === "closed" ? (entry.reason ?? "closed") : "timeout";
        throw new ThreadlineError(ErrorCode.CALL_CLOSED, `${what} ${call} is closed (${why})`, { session });
      }
      const next: ControlCallEntry = {
        ...entry,
        status: "answered",
        answeredBy: event.from,
        answeredAt: now,
        answer: event.id,
      };
      if ((await this.state.casCall(session, call, next, current!.revision)) !== undefined) return;
    }
    throw contended(session, `call ${call}`);
  }

  private async handoff(session: string, event: SessionEvent<HandoffData>): Promise<void> {
    const data = event.data!;
    if (data.action === "request") return;
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const current = await this.state.getOwnerRevision(session);
      const next: ControlOwnerEntry = {
        owner: data.action === "take" ? { kind: "operator", id: event.from.id } : null,
        by: event.from,
        since: Date.now(),
        ...(data.reason === undefined ? {} : { reason: data.reason }),
      };
      if ((await this.state.casOwner(session, next, current)) !== undefined) return;
    }
    throw contended(session, "the owner key");
  }
}

function contended(session: string, what: string): ThreadlineError {
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `${what} is being changed concurrently; retry`, { session });
}
