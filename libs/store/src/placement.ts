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
 * Runs `create`, repeating it with backoff (100 ms doubling to 2 s) while
 * {@link placementPending}, for up to `waitMs`; any other error, or the
 * last one at the deadline, is thrown as is.
 * @example await whilePlacing(() => jsm.streams.add(config));
 */
export async function whilePlacing<T>(create: () => Promise<T>, waitMs = PLACEMENT_WAIT_MS): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await create();
    } catch (error) {
      if (!placementPending(error) || Date.now() >= deadline) throw error;
      await sleep(Math.min(2000, 100 * 2 ** attempt, Math.max(0, deadline - Date.now())));
    }
  }
}
