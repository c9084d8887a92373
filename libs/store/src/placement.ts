import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { JsErrCode, jsApiErrorCode } from "./nats-errors.ts";
import { sleep } from "./retry.ts";

/**
 * How long a create waits for a forming cluster to place it. After a cold
 * start of a cluster (all pods of a StatefulSet at once) the meta leader can
 * exist before every peer is current; JetStream then answers "no suitable
 * peers for placement" or "temporarily unavailable" for a while.
 */
export const PLACEMENT_WAIT_MS = 30_000;

/** Whether a stream or bucket create failed only because the cluster cannot place it yet (pure). */
export function placementPending(error: unknown): boolean {
  const code = jsApiErrorCode(error);
  return code === JsErrCode.NO_SUITABLE_PEERS || code === JsErrCode.CLUSTER_NOT_AVAILABLE;
}

/**
 * Runs `create` (of `what`, e.g. "stream THREADLINE"), repeating it with
 * backoff (100 ms doubling to 2 s) while {@link placementPending}, for up to
 * `waitMs`; any other error is thrown as is. Still unplaceable at the
 * deadline: `ThreadlineError(UNAVAILABLE)` saying so, with the last
 * JetStream error as its cause — a cluster that stays in this state has a
 * node missing from its JetStream meta group (deploy/k8s/README.md,
 * "Troubleshooting").
 * @example await whilePlacing("stream THREADLINE", () => jsm.streams.add(config));
 */
export async function whilePlacing<T>(what: string, create: () => Promise<T>, waitMs = PLACEMENT_WAIT_MS): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await create();
    } catch (error) {
      if (!placementPending(error)) throw error;
      if (Date.now() >= deadline) throw notPlaced(what, waitMs, error);
      await sleep(Math.min(2000, 100 * 2 ** attempt, Math.max(0, deadline - Date.now())));
    }
  }
}

function notPlaced(what: string, waitMs: number, error: unknown): ThreadlineError {
  const reason = error instanceof Error ? error.message : String(error);
  return new ThreadlineError(
    ErrorCode.UNAVAILABLE,
    `${what}: the NATS cluster could not place it within ${waitMs / 1000} s (${reason}); if this persists, ` +
      "check that every node is in the JetStream meta group (deploy/k8s/README.md, Troubleshooting)",
    { cause: error },
  );
}
