/**
 * Idempotent producers (PROTOCOL.md §21.5): the state the stream keeps per
 * producer id and the pure decision for a request's `(epoch, seq)`.
 */
export interface ProducerState {
  epoch: number;
  /** Highest accepted seq in `epoch`. */
  lastSeq: number;
  /** When it last changed (ms), for evicting the least recently used state at the limit. */
  updatedAt: number;
}

export type ProducerDecision =
  /** Append, then store `next`. */
  | { status: "accepted"; next: ProducerState }
  /** Already appended (a retry): answer 204 with the highest accepted seq. */
  | { status: "duplicate"; lastSeq: number }
  /** An older epoch: 403 with the current epoch (zombie fencing). */
  | { status: "stale-epoch"; currentEpoch: number }
  /** A new epoch must start at seq 0: 400. */
  | { status: "invalid-epoch-seq" }
  /** A seq was skipped: 409 with expected/received. */
  | { status: "sequence-gap"; expected: number; received: number };

export function decideProducer(
  state: ProducerState | undefined,
  epoch: number,
  seq: number,
  now: number,
): ProducerDecision {
  if (state === undefined || epoch > state.epoch) {
    if (seq !== 0) {
      return state === undefined
        ? { status: "sequence-gap", expected: 0, received: seq }
        : { status: "invalid-epoch-seq" };
    }
    return { status: "accepted", next: { epoch, lastSeq: 0, updatedAt: now } };
  }
  if (epoch < state.epoch) return { status: "stale-epoch", currentEpoch: state.epoch };
  if (seq <= state.lastSeq) return { status: "duplicate", lastSeq: state.lastSeq };
  if (seq === state.lastSeq + 1) return { status: "accepted", next: { epoch, lastSeq: seq, updatedAt: now } };
  return { status: "sequence-gap", expected: state.lastSeq + 1, received: seq };
}

/**
 * Producer states after storing `id` → `next`, at most `max` of them: past
 * the limit the least recently updated other producers are forgotten (a
 * forgotten producer is treated as new, as the protocol allows for expired state).
 */
export function withProducer(
  producers: Readonly<Record<string, ProducerState>>,
  id: string,
  next: ProducerState,
  max: number,
): Record<string, ProducerState> {
  const result: Record<string, ProducerState> = { ...producers, [id]: next };
  const ids = Object.keys(result);
  if (ids.length <= max) return result;
  const evict = ids
    .filter((other) => other !== id)
    .sort((a, b) => result[a]!.updatedAt - result[b]!.updatedAt)
    .slice(0, ids.length - max);
  for (const other of evict) delete result[other];
  return result;
}
