import {
  INPUT_EVENT_TYPE,
  isTurnId,
  MAX_TURN_DEPTH,
  newId,
  TurnEventType,
  type TurnRequestData,
} from "@threadline/protocol";
import type { ControlState, SubjectRecord, TurnRecord } from "@threadline/store";
import { planClaim } from "./turn-rules.ts";

/** How an in-lane event maps to a turn of a pool. */
export interface Route {
  turn: string;
  parent: string | undefined;
  /** Root first, parent last. */
  ancestors: string[];
  /** A user/operator `input` (subject to the session owner check). */
  fromUser: boolean;
}

/**
 * Which turn of pool `pool` an in-lane event starts: a user/operator `input`
 * for an entry pool (turn id = the event id), a `turn.request` addressed to
 * the pool (turn id = its `turn`, else its id); `undefined` for anything
 * else (acked and ignored). A malformed event meant for the pool gives a
 * string saying what is wrong (also acked and ignored; the gateway and the
 * SDK never store such events, another writer could).
 */
export function routeInput(record: SubjectRecord, pool: string, entry: boolean): Route | string | undefined {
  const e = record.event;
  if (e.type === INPUT_EVENT_TYPE) {
    if (!entry || (e.from.kind !== "user" && e.from.kind !== "operator")) return undefined;
    if (!isTurnId(e.id)) return `input ${e.id} (seq ${record.seq}): the id is not a turn id; ignored`;
    return { turn: e.id, parent: undefined, ancestors: [], fromUser: true };
  }
  if (e.type !== TurnEventType.REQUEST) return undefined;
  const data = e.data as Partial<TurnRequestData> | undefined;
  if (data?.agent !== pool) return undefined;
  const turn = e.turn ?? e.id;
  const ancestors = data.ancestors ?? [];
  if (!isTurnId(turn) || !Array.isArray(ancestors) || ancestors.length > MAX_TURN_DEPTH || !ancestors.every(isTurnId)) {
    return `turn.request ${e.id} (seq ${record.seq}): malformed turn id or ancestors; ignored`;
  }
  return { turn, parent: isTurnId(data.parent) ? data.parent : undefined, ancestors, fromUser: false };
}

export type Claim =
  | { kind: "start"; revision: number; entry: TurnRecord }
  | { kind: "takeover"; revision: number; entry: TurnRecord; previousWorker: string }
  /** Cancelled while `pending` (no worker ran it): publish its closing `turn.end` with this event id. */
  | { kind: "close-cancelled"; endEvent: string }
  /** Not started because an operator owns the session: marked final, nothing to publish. */
  | { kind: "skipped" }
  /** Final already (a worker whose ack was lost finished it): `entry` says how, so its `turn.end` can be checked. */
  | { kind: "ended"; entry: TurnRecord };

/**
 * Claims a turn in the control bucket for `worker`, with create/CAS so that
 * exactly one worker wins: no entry or `pending` → `start` (`running`,
 * attempt 0); `running` under anyone → `takeover` (the server redelivered
 * the input, so the owner's lease lapsed; attempt + 1); cancelled while
 * `pending` (the gateway set `cancelEvent`) → `close-cancelled` once, the
 * entry recording the closing worker and the `turn.end` id (a redelivery
 * gets the same id back); any other final status → `ended` (finished by a
 * worker whose ack was lost, or by the orphan sweep). With `operatorOwned` (a user/operator input
 * while an operator owns the session) no entry or `pending` becomes
 * `cancelled` with `skipped: "operator"` → `skipped`, a turn cancelled
 * while pending → `ended` (no `turn.end`), a turn already running is still
 * taken over. A lost CAS re-reads and decides again.
 */
export async function claimTurn(
  control: ControlState,
  record: SubjectRecord,
  route: Route,
  who: { agent: string; worker: string; orphanAfterMs: number },
  operatorOwned = false,
): Promise<Claim> {
  const { session } = record;
  for (;;) {
    const running: TurnRecord = {
      status: "running",
      agent: who.agent,
      worker: who.worker,
      inputSeq: record.seq,
      updatedAt: Date.now(),
      leaseUntil: Date.now() + who.orphanAfterMs,
    };
    if (route.parent !== undefined) running.parent = route.parent;
    if (route.ancestors.length > 0) running.ancestors = route.ancestors;
    const current = await control.getTurn(session, route.turn);
    const plan = planClaim(current, running, operatorOwned, newId);
    if (!plan.write) {
      if (plan.outcome === "ended") return { kind: "ended", entry: current!.value };
      return { kind: "close-cancelled", endEvent: current!.value.endEvent! };
    }
    const { value, revision } = plan.write;
    const written =
      revision === 0
        ? await control.createTurn(session, route.turn, value)
        : await control.casTurn(session, route.turn, value, revision);
    if (written === undefined) continue; // another writer got there first: read and decide again
    switch (plan.outcome) {
      case "skipped":
        return { kind: "skipped" };
      case "close-cancelled":
        return { kind: "close-cancelled", endEvent: value.endEvent! };
      case "start":
        return { kind: "start", revision: written, entry: value };
      case "takeover":
        return {
          kind: "takeover",
          revision: written,
          entry: value,
          previousWorker: current?.value.worker ?? "unknown",
        };
    }
  }
}
