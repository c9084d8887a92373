import {
  applyMessageEvent,
  emptyMessageState,
  type Message,
  type MessageRecord,
  type MessageState,
  type Subjects,
} from "@threadline/protocol";
import { type ControlState, decodeRecord, type HistoryReader } from "@threadline/store";
import type { Trigger } from "./trigger.ts";

/** Events of the `out` lane read at most to find a turn's last message; a longer turn gets the generic body. */
export const MAX_TURN_SCAN = 10_000;

/** The text parts of a message, joined (pure). */
export function messageText(message: Message): string {
  return message.parts
    .filter(
      (p): p is { type: "text"; text: string } =>
        p.type === "text" && typeof (p as { text?: unknown }).text === "string",
    )
    .map((p) => p.text)
    .join("\n");
}

/**
 * Folds a turn's message events (PROTOCOL.md §18) and returns the text of
 * its last assistant message with any text, or undefined (pure: `records` in
 * seq order; events of other turns are skipped).
 */
export function lastTurnText(records: Iterable<MessageRecord>, turn: string): string | undefined {
  let state: MessageState = emptyMessageState();
  for (const record of records) if (record.event.turn === turn) state = applyMessageEvent(state, record);
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const message = state.messages[i] as Message;
    if (message.role !== "assistant") continue;
    const text = messageText(message).trim();
    if (text !== "") return text;
  }
  return undefined;
}

/**
 * The text of a completed turn's last message, read from the session's `out`
 * lane from the turn's input (its control-bucket entry's `inputSeq`; else
 * from `maxAgeMs` before the trigger) up to the `turn.end`. Undefined when it
 * cannot be read: no turn, no text, more than {@link MAX_TURN_SCAN} events.
 */
export async function readTurnText(
  reader: HistoryReader,
  subjects: Subjects,
  control: ControlState,
  trigger: Trigger,
  maxAgeMs: number,
): Promise<string | undefined> {
  const { turn } = trigger;
  if (turn === undefined) return undefined;
  const inputSeq = (await control.getTurn(trigger.session, turn))?.value.inputSeq;
  const records: MessageRecord[] = [];
  const filter = `${subjects.prefix}.${trigger.session}.out.>`;
  // `until`: the turn's messages are all before its `turn.end`, whichever replica serves the read.
  const options = { until: trigger.seq, ...(inputSeq === undefined ? { since: trigger.ts - maxAgeMs } : {}) };
  let scanned = 0;
  for await (const batch of reader.read(filter, inputSeq ?? 0, options)) {
    for (const message of batch) {
      if (message.seq >= trigger.seq) return lastTurnText(records, turn);
      if (++scanned > MAX_TURN_SCAN) return undefined;
      const record = decodeRecord(subjects, message.subject, message.seq, message.data);
      if (typeof record !== "string" && record.event.turn === turn) records.push(record);
    }
  }
  return lastTurnText(records, turn);
}
