import {
  ErrorCode,
  newId,
  ThreadlineError,
  type TurnEndData,
  TurnEventType,
  type TurnResumedData,
  type TurnStartData,
} from "@threadline/protocol";
import type { ControlState, SubjectRecord, TurnRecord } from "@threadline/store";
import type { Agent } from "./agent-api.ts";
import { cancelReason, type RunningTurn } from "./running-turn.ts";
import type { Resolved } from "./serve-options.ts";
import { SessionStateUser } from "./state-views.ts";
import { claimTurn, type Route } from "./turn-claim.ts";
import { type ClosedTurnRecord, closeLeftovers, publishTurnClose } from "./turn-close.ts";
import { createTurnContext, type ResumedInfo } from "./turn-context.ts";
import { TurnLease } from "./turn-lease.ts";
import { endOfTurn, poisonEnd, shouldRestoreEnd, takeoverVerdict } from "./turn-rules.ts";
import { scanForTakeover } from "./turn-takeover.ts";

/** What a turn's run needs from the pool worker that runs it. */
export interface TurnRunnerHost {
  agent: Agent;
  control: ControlState;
  pool: string;
  worker: string;
  options: Pick<Resolved, "leaseMs" | "orphanAfterMs" | "maxTakeovers" | "handler">;
  /** A cancel of the turn (or an ancestor) this worker saw before the turn ran here. */
  rememberedCancel(running: RunningTurn): SubjectRecord | undefined;
  /** Whether `stop()` handed the turn back to the pool after its grace. */
  handedOver(running: RunningTurn): boolean;
  enterPresence(session: string): Promise<void>;
  leavePresence(session: string): void;
}

/**
 * Runs one turn. Resolves `ack` when the input is done with, `lost` when
 * another worker owns the turn now (no ack: that worker's delivery is
 * live), `hand-over` when this worker stopped mid-turn (nak: redeliver now).
 */
export async function runTurn(
  host: TurnRunnerHost,
  record: SubjectRecord,
  route: Route,
  running: RunningTurn,
): Promise<"ack" | "lost" | "hand-over"> {
  const { session } = record;
  const { control, options: o } = host;
  // While an operator owns the session, user/operator input starts no turn: the operator answers.
  const operatorOwned = route.fromUser && (await control.operatorOwner(session)) !== undefined;
  const who = { agent: host.pool, worker: host.worker, orphanAfterMs: o.orphanAfterMs };
  const claim = await claimTurn(control, record, route, who, operatorOwned);
  if (claim.kind === "skipped") return "ack";
  if (claim.kind === "ended") {
    // Final already. Its closer may have died between the final CAS and its turn.end: while the stream's
    // duplicate window still covers the first attempt, store the same event again (kept once).
    const closed = claim.entry;
    if (shouldRestoreEnd(closed, host.pool, Date.now())) {
      await host.agent.publish(session, {
        id: closed.endEvent,
        type: TurnEventType.END,
        turn: route.turn,
        ref: record.event.id,
        data: closed.end,
      });
    }
    return "ack";
  }
  if (claim.kind === "close-cancelled") {
    // Cancelled before any worker ran it: the pool stores the turn's end, so every reader sees it closed.
    const end: TurnEndData = { status: "cancelled", reason: "cancelled before a worker started it" };
    try {
      await host.agent.publish(session, {
        id: claim.endEvent,
        type: TurnEventType.END,
        turn: route.turn,
        ref: record.event.id,
        data: end,
      });
    } catch (error) {
      // The id from the key was stored by another worker of the pool under another participant id
      // (the duplicate is not "ours", §3.3): that worker's turn.end closes the turn.
      if (!(error instanceof ThreadlineError && error.code === ErrorCode.EVENT_ID_CONFLICT)) throw error;
    }
    return "ack";
  }
  const revision = claim.revision;
  const entry = claim.entry;
  let resumed: ResumedInfo | undefined;
  let cancel = host.rememberedCancel(running);
  if (claim.kind === "takeover") {
    const scan = await scanForTakeover(host.agent.history(session, { after: record.seq }), route.turn, route.ancestors);
    cancel ??= scan.cancel;
    const data: TurnResumedData = {
      agent: host.pool,
      worker: host.worker,
      previousWorker: claim.previousWorker,
      reason: "lease-expired",
      attempt: entry.attempt ?? 1,
    };
    if (takeoverVerdict(data.attempt, o.maxTakeovers) === "give-up") {
      // Every worker that ran this turn died or stalled in it: a poison input. End it for good.
      const closed = finalEntry(entry, poisonEnd(o.maxTakeovers));
      if ((await control.casTurn(session, route.turn, closed, revision)) === undefined) return "lost";
      await publishTurnClose({ agent: host.agent, control }, session, route.turn, closed, scan);
      return "ack";
    }
    await host.agent.publish(session, { turn: route.turn, type: TurnEventType.RESUMED, ref: record.event.id, data });
    await closeLeftovers({ agent: host.agent, control }, session, route.turn, scan);
    resumed = { ...data, interrupted: scan.openMessages };
  } else {
    const data: TurnStartData = { agent: host.pool, worker: host.worker };
    if (route.parent !== undefined) data.parent = route.parent;
    if (route.ancestors.length > 0) data.ancestors = route.ancestors;
    await host.agent.publish(session, { turn: route.turn, type: TurnEventType.START, ref: record.event.id, data });
  }
  if (cancel) running.abort(cancelReason(cancel));

  // Lease: the in-progress acks keep the input ours at the server; the control entry tells us
  // if another worker took the turn anyway (we stalled past the lease): then stop, silently.
  const lease = new TurnLease(control, session, route.turn, { revision, entry }, o, (reason) => running.abort(reason));
  lease.start();

  let failure: string | undefined;
  try {
    if (!running.signal.aborted) {
      await host.enterPresence(session);
      const state = new SessionStateUser(host.agent, session, () => lease.guard());
      try {
        await o.handler(
          createTurnContext({
            agent: host.agent,
            control,
            running,
            pool: host.pool,
            worker: host.worker,
            input: record,
            parent: route.parent,
            resumed,
            guard: () => lease.guard(),
            state,
          }),
        );
      } catch (error) {
        if (!running.signal.aborted) failure = error instanceof Error ? error.message : String(error);
      } finally {
        state.release();
        host.leavePresence(session);
      }
    }
  } finally {
    await lease.end();
  }
  if (lease.lost) return "lost";
  if (host.handedOver(running)) return "hand-over";
  const end = endOfTurn({ aborted: running.signal.aborted, abortReason: running.signal.reason, failure });
  // The final entry names its turn.end (id and data) before the event is stored: a worker that finds the
  // entry final after this one died stores the same event (publishTurnClose), so no reader waits for ever.
  const closed = finalEntry(lease.held.entry, end);
  const next = await control.casTurn(session, route.turn, closed, lease.held.revision);
  if (next === undefined) return "lost"; // taken over or swept meanwhile: the new owner reports the turn
  await host.agent.publish(session, {
    id: closed.endEvent,
    type: TurnEventType.END,
    turn: route.turn,
    ref: record.event.id,
    data: end,
  });
  return "ack";
}

/** The final control entry of a turn, naming the `turn.end` that reports it. */
function finalEntry(entry: TurnRecord, end: TurnEndData): ClosedTurnRecord {
  return { ...entry, status: end.status, updatedAt: Date.now(), endEvent: newId(), end };
}
