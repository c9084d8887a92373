import { emptySessionState, type SessionState, type Subjects, stepState } from "@threadline/protocol";
import { type HistoryReader, readResuming } from "./history-reader.ts";
import { decodeRecord, type SubjectRecord } from "./record-decoder.ts";

export interface FoldStoredStateOptions {
  /** A state to continue from (its `seq`: the fold is complete up to there); default empty. */
  start?: SessionState;
  /** Stop at this seq: the result is the state as of `upToSeq` (default: everything stored when the read began). */
  upToSeq?: number;
  /** A stored `st` message that is not a valid event (skipped, like every reader skips it). */
  onInvalid?: (subject: string, seq: number, problem: string) => void;
  /** Each decoded state record folded (e.g. to remember the event ids a writer already stored). */
  onRecord?: (record: SubjectRecord) => void;
}

/**
 * The session's shared state (PROTOCOL.md §19) folded from its stored
 * `state` events: reads only the session's `st` lane
 * (`<prefix>.<session>.st.>`) after `start.seq` through the one history
 * reader, decodes each record (authors pinned to their subject, as every
 * reader does) and applies it with `stepState`, stopping after `upToSeq`.
 *
 * The result's `seq` is the last state record folded (or `start.seq`); the
 * fold is complete up to `upToSeq`, or up to whatever was stored when the
 * read began — a caller that needs a position takes the stream's last seq
 * *before* calling. Throws the reader's typed errors (`UNAVAILABLE`…).
 *
 * @example
 * const state = await foldStoredState(reader, subjects, "s1", { upToSeq: attached.from });
 * state.objects.cart?.value; // the cart as of that position
 */
export async function foldStoredState(
  reader: HistoryReader,
  subjects: Subjects,
  session: string,
  options: FoldStoredStateOptions = {},
): Promise<SessionState> {
  let state = options.start ?? emptySessionState();
  const upTo = options.upToSeq ?? Number.POSITIVE_INFINITY;
  if (state.seq >= upTo) return state;
  for await (const batch of readResuming(reader, `${subjects.prefix}.${session}.st.>`, state.seq)) {
    for (const m of batch) {
      if (m.seq > upTo) return state;
      const record = decodeRecord(subjects, m.subject, m.seq, m.data);
      if (typeof record === "string") {
        options.onInvalid?.(m.subject, m.seq, record);
        continue;
      }
      options.onRecord?.(record);
      state = stepState(state, record).state;
    }
  }
  return state;
}
