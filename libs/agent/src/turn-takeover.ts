import { ControlEventType, MessageEventType, TurnEventType } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";

/** What a worker taking a turn over learns from the session's events stored after the turn's input. */
export interface TakeoverScan {
  /** Ids of messages of the turn with a `message.start` and no `message.end`, in start order. */
  openMessages: string[];
  /** Ids of the turn's client calls (`tool.call` / `approval.request`) with no `call.closed`, in request order. */
  openCalls: string[];
  /** The first stored `cancel` of the turn or of an ancestor, if any (the previous worker may have missed it). */
  cancel: SubjectRecord | undefined;
  /** Whether a `turn.end` of the turn is stored (a worker finished it; only the ack may have been lost). */
  endStored: boolean;
}

/**
 * Scans the events stored after a turn's input for what the previous worker
 * left behind: its open messages (to end them `interrupted`, so no client
 * shows "streaming" forever), its open client calls (to close them, so no
 * client shows a prompt nobody waits for) and a cancel it did not act on.
 * Message and call ids are the events' `ref` (PROTOCOL.md §17.5, §18).
 */
export async function scanForTakeover(
  events: AsyncIterable<SubjectRecord>,
  turn: string,
  ancestors: readonly string[],
): Promise<TakeoverScan> {
  const open = new Set<string>();
  const calls = new Set<string>();
  let cancel: SubjectRecord | undefined;
  let endStored = false;
  for await (const record of events) {
    const e = record.event;
    if (e.type === ControlEventType.CANCEL && e.turn !== undefined) {
      if (!cancel && (e.turn === turn || ancestors.includes(e.turn))) cancel = record;
      continue;
    }
    if (e.turn === turn && e.type === TurnEventType.END) endStored = true;
    if (e.turn !== turn || e.ref === undefined) continue;
    if (e.type === MessageEventType.START) open.add(e.ref);
    else if (e.type === MessageEventType.END) open.delete(e.ref);
    else if (e.type === TurnEventType.TOOL_CALL || e.type === TurnEventType.APPROVAL_REQUEST) calls.add(e.ref);
    else if (e.type === TurnEventType.CALL_CLOSED) calls.delete(e.ref);
  }
  return { openMessages: [...open], openCalls: [...calls], cancel, endStored };
}
