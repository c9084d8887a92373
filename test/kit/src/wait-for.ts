import { TestKitError, TestKitErrorCode } from "./errors.ts";

export interface WaitForOptions {
  /** Give up after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Pause between attempts. Default 20 ms. */
  intervalMs?: number;
  /** Added to the timeout error, to say what was awaited (e.g. `received ${n} of ${total}`). */
  message?: string | (() => string);
  /** Stops waiting early; the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

type Truthy<T> = Exclude<T, false | 0 | 0n | "" | null | undefined>;

/**
 * Polls `fn` until it returns (or resolves to) a truthy value and returns it.
 * For conditions that have no event to await — prefer awaiting the event when
 * there is one. An attempt that throws counts as "not yet"; the last error
 * becomes the `cause` of the timeout error. Each attempt is awaited, so an
 * attempt that never settles stalls the wait (keep attempts short).
 * @example
 *   await waitFor(() => received.length >= 10, { timeoutMs: 5_000, message: () => `got ${received.length}` });
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 20;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const value = await fn();
      if (value) return value as Truthy<T>;
    } catch (error) {
      lastError = error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const what = typeof options.message === "function" ? options.message() : options.message;
      throw new TestKitError(
        TestKitErrorCode.TIMEOUT,
        `waitFor timed out after ${Date.now() - started} ms${what ? `: ${what}` : ""}`,
        lastError === undefined ? undefined : { cause: lastError },
      );
    }
    await sleep(Math.min(intervalMs, remaining), options.signal);
  }
}

/** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
