import { controlTurnKey, isFinalTurnStatus } from "@threadline/protocol";
import { type ControlState, closedError, type TurnRecord } from "@threadline/store";

/**
 * Resolves with a turn's control entry once its status is final, watching
 * `<session>.turn.<turn>` in the control bucket (the current value first,
 * then every update). Rejects with the signal's reason when `signal` fires,
 * `CLOSED` when the watch ends first (the connection closed).
 */
export async function waitForTurnEnd(
  control: ControlState,
  session: string,
  turn: string,
  signal?: AbortSignal,
): Promise<TurnRecord> {
  signal?.throwIfAborted();
  const key = controlTurnKey(session, turn);
  const watch = await control.watchTurn(session, turn);
  const onAbort = () => watch.stop();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const entry of watch.entries) {
      if (entry.operation !== "PUT" || entry.length === 0) continue;
      const value = entry.json<TurnRecord>();
      if (isFinalTurnStatus(value.status)) return value;
    }
    signal?.throwIfAborted();
    throw closedError(`watching ${key}`, session);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    watch.stop();
  }
}
