import type { Subjects } from "@threadline/protocol";
import type { HistoryReader } from "@threadline/store";
import { classifyTrigger, type Trigger } from "./trigger.ts";

/** Triggers kept from one window read (the newest); a session with more in one window counts only these. */
export const MAX_WINDOW_TRIGGERS = 10_000;

/**
 * A session's triggers stored after seq `after` and at or after `since`,
 * in seq order: its `out` lane and its operators' input (two reads, one
 * filter each — nats-server 2.9). Everything up to `until` (the trigger
 * being decided) is included whichever replica serves the reads, and what
 * else the serving replica stored when the reads start, so a later trigger
 * of the same burst that is already stored is seen. Bounded to the newest
 * {@link MAX_WINDOW_TRIGGERS}.
 */
export async function readSessionTriggers(
  reader: HistoryReader,
  subjects: Subjects,
  session: string,
  window: { after: number; since: number; until: number },
): Promise<Trigger[]> {
  const { after, since, until } = window;
  const lanes: Trigger[][] = [];
  for (const lane of ["out.>", "in.operator.>"]) {
    const found: Trigger[] = []; // in seq order: the read is
    for await (const batch of reader.read(`${subjects.prefix}.${session}.${lane}`, after, { since, until })) {
      for (const message of batch) {
        const trigger = classifyTrigger(subjects, message);
        if (trigger) found.push(trigger);
      }
      if (found.length > 2 * MAX_WINDOW_TRIGGERS) found.splice(0, found.length - MAX_WINDOW_TRIGGERS);
    }
    lanes.push(found);
  }
  return lanes
    .flat()
    .sort((a, b) => a.seq - b.seq)
    .slice(-MAX_WINDOW_TRIGGERS);
}
