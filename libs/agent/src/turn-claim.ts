import {
  INPUT_EVENT_TYPE,
  isFinalTurnStatus,
  isTurnId,
  MAX_TURN_DEPTH,
  newId,
  TurnEventType,
  type TurnRequestData,
} from "@threadline/protocol";
import type { ControlState, SubjectRecord, TurnRecord } from "@threadline/store";

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
    const base: TurnRecord = {
      status: "running",
      agent: who.agent,
      worker: who.worker,
      inputSeq: record.seq,
      updatedAt: Date.now(),
      leaseUntil: Date.now() + who.orphanAfterMs,
    };
    if (route.parent !== undefined) base.parent = route.parent;
    if (route.ancestors.length > 0) base.ancestors = route.ancestors;
    const current = await control.getTurn(session, route.turn);
    if (operatorOwned && (!current || current.value.status === "pending")) {
      const skipped: TurnRecord = { ...current?.value, ...base, status: "cancelled", skipped: "operator" };
      const revision = current
        ? await control.casTurn(session, route.turn, skipped, current.revision)
        : await control.createTurn(session, route.turn, skipped);
      if (revision !== undefined) return { kind: "skipped" };
      continue;
    }
    if (!current) {
      const entry = { ...base, attempt: 0 };
      const revision = await control.createTurn(session, route.turn, entry);
      if (revision !== undefined) return { kind: "start", revision, entry };
      continue;
    }
    const value = current.value;
    if (isFinalTurnStatus(value.status)) {
      // Under an operator the pool stays silent: the cancel already closed the turn for clients (§17.8).
      if (value.status !== "cancelled" || value.cancelEvent === undefined || operatorOwned) {
        return { kind: "ended", entry: value };
      }
      if (value.endEvent !== undefined) return { kind: "close-cancelled", endEvent: value.endEvent };
      const closing: TurnRecord = { ...value, agent: who.agent, worker: who.worker, endEvent: newId() };
      if ((await control.casTurn(session, route.turn, closing, current.revision)) === undefined) continue;
      return { kind: "close-cancelled", endEvent: closing.endEvent! };
    }
    const attempt = value.status === "pending" ? 0 : (value.attempt ?? 0) + 1;
    const entry = { ...base, attempt };
    const revision = await control.casTurn(session, route.turn, entry, current.revision);
    if (revision === undefined) continue;
    if (value.status === "pending") return { kind: "start", revision, entry };
    return { kind: "takeover", revision, entry, previousWorker: value.worker ?? "unknown" };
  }
}
