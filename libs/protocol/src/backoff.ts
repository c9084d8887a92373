/**
 * Exponential backoff with jitter, as pure functions (PROTOCOL.md §14:
 * "250 ms doubling to 10 s, ±50 %"). The caller owns the attempt counter and
 * the timer; nothing here has state or touches the clock.
 */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 250. */
  initialDelayMs?: number;
  /** Upper bound of every delay (applied after jitter), in ms. Default 10000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Relative jitter: 0.5 spreads each delay uniformly over ±50 %. Default 0.5. */
  jitter?: number;
  /** Consecutive failed attempts after which the caller gives up. Default Infinity. */
  maxAttempts?: number;
}

export type BackoffPolicy = Readonly<Required<BackoffOptions>>;

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Number.POSITIVE_INFINITY,
});

/** Fills defaults and validates. Throws RangeError on a negative, non-finite or out-of-range value. */
export function resolveBackoff(options: BackoffOptions = {}, defaults: BackoffPolicy = DEFAULT_BACKOFF): BackoffPolicy {
  const policy = {
    initialDelayMs: options.initialDelayMs ?? defaults.initialDelayMs,
    maxDelayMs: options.maxDelayMs ?? defaults.maxDelayMs,
    factor: options.factor ?? defaults.factor,
    jitter: options.jitter ?? defaults.jitter,
    maxAttempts: options.maxAttempts ?? defaults.maxAttempts,
  };
  const finiteNonNegative = (name: string, value: number) => {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`backoff ${name} must be a finite number ≥ 0`);
  };
  finiteNonNegative("initialDelayMs", policy.initialDelayMs);
  finiteNonNegative("maxDelayMs", policy.maxDelayMs);
  if (!Number.isFinite(policy.factor) || policy.factor < 1) throw new RangeError("backoff factor must be ≥ 1");
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) throw new RangeError("backoff jitter must be within [0, 1]");
  if (
    !(
      policy.maxAttempts === Number.POSITIVE_INFINITY ||
      (Number.isSafeInteger(policy.maxAttempts) && policy.maxAttempts >= 0)
    )
  ) {
    throw new RangeError("backoff maxAttempts must be an integer ≥ 0 or Infinity");
  }
  return Object.freeze(policy);
}

/**
 * The delay before retry number `attempt` (1-based):
 * `min(maxDelayMs, initialDelayMs · factor^(attempt−1) · (1 + jitter · (2r − 1)))`, rounded, where
 * `r = random()` in [0, 1). With the defaults: ~250, 500, 1000 … 10000 ms, each ±50 %, never above 10000.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError("attempt must be an integer ≥ 1");
  // Cap the exponent's result before jitter so huge attempt numbers cannot overflow to Infinity·0.
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
  const spread = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxDelayMs, Math.max(0, base * spread)));
}

/** Whether retry number `attempt` (1-based) is still allowed. */
export function canRetry(attempt: number, policy: BackoffPolicy): boolean {
  return attempt <= policy.maxAttempts;
}
