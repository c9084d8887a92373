import { type BackoffPolicy, backoffDelay, resolveBackoff } from "@threadline/protocol";

/**
 * The retry schedules of Threadline's NATS side, in one table. Every delay is
 * `backoffDelay(attempt, policy)` from `@threadline/protocol` (exponential,
 * capped, with jitter; the same pure function the client SDK's reconnects use,
 * PROTOCOL.md §14), so no component writes its own formula.
 */
export const RetryPolicy = {
  /** A publish NATS did not confirm (agent SDK, presence service): 100 ms doubling to 2 s, ±50 %. */
  publish: resolveBackoff({ initialDelayMs: 100, maxDelayMs: 2_000, jitter: 0.5 }),
  /** Re-opening a consumer whose pull or creation failed (worker pools, input consumers): 100 ms doubling to 5 s, ±20 %. */
  consumer: resolveBackoff({ initialDelayMs: 100, maxDelayMs: 5_000, jitter: 0.2 }),
  /** Re-opening a KV watch that ended (reconnect, server restart): 250 ms doubling to 5 s, ±20 %. */
  watch: resolveBackoff({ initialDelayMs: 250, maxDelayMs: 5_000, jitter: 0.2 }),
  /** A history read that failed or came back behind the live feed (gateway catch-up): 100 ms doubling to 2 s, ±20 %. */
  historyRead: resolveBackoff({ initialDelayMs: 100, maxDelayMs: 2_000, jitter: 0.2 }),
  /**
   * A webhook POST that failed retryably (network error, 408, 429, 5xx; the notifier): 1 s doubling to
   * 1 min, ±20 %. The notifier's settings may shorten it and bound the tries.
   */
  webhook: resolveBackoff({ initialDelayMs: 1_000, maxDelayMs: 60_000, jitter: 0.2 }),
  /** A Web Push send that failed other than 404/410 (the notifier): 500 ms doubling to 10 s, ±20 %, 4 tries in all. */
  push: resolveBackoff({ initialDelayMs: 500, maxDelayMs: 10_000, jitter: 0.2, maxAttempts: 4 }),
} as const satisfies Record<string, BackoffPolicy>;

/**
 * The redelivery delay of input whose handler failed, by delivery count
 * (1-based): `nakDelayMs` doubling per delivery up to `maxMs`, without jitter
 * (JetStream spreads redeliveries by their own ack times).
 */
export function redeliveryDelay(deliveryCount: number, nakDelayMs: number, maxMs: number): number {
  const policy = resolveBackoff({ initialDelayMs: nakDelayMs, maxDelayMs: maxMs, jitter: 0 });
  return backoffDelay(Math.max(1, deliveryCount), policy);
}

/** The delay before retry `attempt` (1-based) under `policy`. */
export function retryDelay(attempt: number, policy: BackoffPolicy): number {
  return backoffDelay(Math.max(1, attempt), policy);
}

/** Resolves after `ms`, or at once when `signal` fires (never rejects: callers check their own state). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * `work`, or a rejection with `error()` once `ms` have passed without it
 * settling (`work` itself is not cancelled; a late result is dropped). For a
 * request that may never be answered, e.g. a consumer create the meta leader
 * placed on a node that died (see the gateway's live source).
 * @example await withDeadline(js.consumers.get(stream, opts), 2_000, () => new Error("no answer"));
 */
export function withDeadline<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
