import { type MessageEndData, MessageEventType, type TurnEndData, TurnEventType } from "@threadline/protocol";
import type { ControlState, TurnRecord } from "@threadline/store";
import type { Agent } from "./agent-api.ts";
import { closeOrphanedCall } from "./client-call.ts";
import { RunningTurn } from "./running-turn.ts";
import type { TakeoverScan } from "./turn-takeover.ts";

/** A final turn entry that names its `turn.end` (written by the SDK since the orphan sweep). */
export type ClosedTurnRecord = TurnRecord & { endEvent: string; end: TurnEndData };

export function namesItsEnd(entry: TurnRecord): entry is ClosedTurnRecord {
  return typeof entry.endEvent === "string" && entry.end !== undefined && entry.skipped === undefined;
}

/**
 * Stores what a turn that ended without its worker still owes its readers,
 * once its entry is final (the caller's CAS won): `message.end {status:
 * "interrupted"}` for its open messages, `call.closed` for its open client
 * calls, then its `turn.end` with the entry's `endEvent` id (so a second
 * closer's copy is deduplicated by the stream) — unless the scan found one
 * stored. `ref` of the `turn.end` is the turn id, which is the id of the
 * `input` / `turn.request` that started it.
 */
export async function publishTurnClose(
  host: CloseHost,
  session: string,
  turn: string,
  entry: ClosedTurnRecord,
  scan: TakeoverScan,
): Promise<void> {
  await closeLeftovers(host, session, turn, scan);
  if (scan.endStored) return;
  await host.agent.publish(session, { id: entry.endEvent, type: TurnEventType.END, turn, ref: turn, data: entry.end });
}

export interface CloseHost {
  agent: Agent;
  control: ControlState;
}

/**
 * What a worker that is gone left open in a turn: its messages (ended
 * `interrupted`) and its client calls (closed, §17.6 Takeover). Used by a
 * takeover (the turn goes on) and by the closers above.
 */
export async function closeLeftovers(
  host: CloseHost,
  session: string,
  turn: string,
  scan: TakeoverScan,
): Promise<void> {
  const publish = (event: { type: string; ref: string; data: unknown }) =>
    host.agent.publish(session, { ...event, turn });
  for (const id of scan.openMessages) {
    const end: MessageEndData = { status: "interrupted" };
    await publish({ type: MessageEventType.END, ref: id, data: end });
  }
  const callHost = { session, running: new RunningTurn(session, turn, []), control: host.control, publish };
  for (const call of scan.openCalls) await closeOrphanedCall(callHost, call);
}
