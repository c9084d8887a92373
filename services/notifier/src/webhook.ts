import { createHmac } from "node:crypto";
import { type BackoffPolicy, resolveBackoff } from "@threadline/protocol";
import { RetryPolicy, retryDelay, sleep } from "@threadline/store";
import type { WebhookConfig } from "./config.ts";

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, one `v1` per secret. */
export const SIGNATURE_HEADER = "threadline-signature";
/** The claim key: the same on every try, so the receiver can deduplicate. */
export const IDEMPOTENCY_HEADER = "threadline-idempotency-key";
/** A `Retry-After` is honoured up to this long. */
export const MAX_RETRY_AFTER_MS = 600_000;

/**
 * `Threadline-Signature` for `body` at `t` (pure): the HMAC covers `"<t>."`
 * and the exact body bytes; one `v1=` per secret, so a receiver mid-rotation
 * verifies with either (test/kit/README.md "startWebhookReceiver").
 * @example webhookSignature(["whsec_1"], body, 1764979200) // "t=1764979200,v1=5f0c…"
 */
export function webhookSignature(secrets: readonly string[], body: string, t: number): string {
  const v1 = secrets.map((secret) => `v1=${createHmac("sha256", secret).update(`${t}.`).update(body).digest("hex")}`);
  return [`t=${t}`, ...v1].join(",");
}

/** One try: the receiver's status, or the network failure. */
export type WebhookTry =
  | { status: number; retryAfter?: string | undefined; error?: undefined }
  | { status?: undefined; error: string };

/** What follows a try (pure): done, another try after `delayMs`, or give up. */
export type WebhookNext =
  | { action: "delivered" }
  | { action: "retry"; delayMs: number }
  | { action: "give-up"; reason: "permanent" | "exhausted" };

/**
 * 2xx → delivered. Network errors, 408, 429 and 5xx are retried (after
 * `Retry-After` when the answer has one, up to {@link MAX_RETRY_AFTER_MS};
 * else `policy`'s backoff) until `maxAttempts` tries; any other status is a
 * permanent failure (the receiver refused this notification).
 */
export function webhookNext(
  result: WebhookTry,
  attempt: number,
  maxAttempts: number,
  policy: BackoffPolicy,
  now: number,
): WebhookNext {
  const { status } = result;
  if (status !== undefined && status >= 200 && status < 300) return { action: "delivered" };
  const retryable = status === undefined || status === 408 || status === 429 || status >= 500;
  if (!retryable) return { action: "give-up", reason: "permanent" };
  if (attempt >= maxAttempts) return { action: "give-up", reason: "exhausted" };
  const after = status === undefined ? undefined : retryAfterMs(result.retryAfter, now);
  return { action: "retry", delayMs: after ?? retryDelay(attempt, policy) };
}

/** A `Retry-After` value (seconds, or an HTTP date) in ms from `now`, capped; undefined when absent or invalid. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const trimmed = header.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : undefined;
}

/** How a webhook delivery ended. */
export interface WebhookOutcome {
  delivered: boolean;
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  /** Not delivered because the receiver refused it (not retryable) rather than because tries ran out. */
  permanent?: boolean;
  /** Stopped early by the signal (shutdown, lost claim): neither delivered nor given up. */
  aborted?: boolean;
}

/**
 * POSTs `body` to the configured URL, signed, with `idempotencyKey`, trying
 * again as {@link webhookNext} says (the caller keeps its claim's lease
 * renewed meanwhile); `signal` ends the waits between tries (the outcome is
 * then `aborted`), not a try under way. Redirects are not followed (a 3xx is a
 * permanent failure: the URL is configuration, not something to discover).
 */
export async function deliverWebhook(
  config: WebhookConfig,
  body: string,
  idempotencyKey: string,
  signal: AbortSignal,
  now: () => number = Date.now,
): Promise<WebhookOutcome> {
  const policy = resolveBackoff(
    { initialDelayMs: config.backoffMs, maxDelayMs: config.backoffMaxMs },
    RetryPolicy.webhook,
  );
  let last: WebhookTry = { error: "not tried" };
  for (let attempt = 1; ; attempt++) {
    last = await tryOnce(config, body, idempotencyKey, now);
    const next = webhookNext(last, attempt, config.maxAttempts, policy, now());
    if (next.action === "delivered") return { delivered: true, attempts: attempt, ...lastOf(last) };
    if (signal.aborted) return { ...lastOf(last), delivered: false, attempts: attempt, aborted: true };
    if (next.action === "give-up") {
      return { delivered: false, attempts: attempt, permanent: next.reason === "permanent", ...lastOf(last) };
    }
    await sleep(next.delayMs, signal);
    if (signal.aborted) return { ...lastOf(last), delivered: false, attempts: attempt, aborted: true };
  }
}

/** One POST, bounded by the configured timeout (a try under way is finished even when the notifier stops). */
async function tryOnce(
  config: WebhookConfig,
  body: string,
  idempotencyKey: string,
  now: () => number,
): Promise<WebhookTry> {
  const headers = {
    "content-type": "application/json",
    [SIGNATURE_HEADER]: webhookSignature(config.secrets, body, Math.floor(now() / 1000)),
    [IDEMPOTENCY_HEADER]: idempotencyKey,
  };
  try {
    const response = await fetch(config.url, {
      method: "POST",
      body,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    await response.body?.cancel().catch(() => {});
    return { status: response.status, retryAfter: response.headers.get("retry-after") ?? undefined };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

function lastOf(result: WebhookTry): { lastStatus?: number; lastError?: string } {
  if (result.status !== undefined) return { lastStatus: result.status, lastError: `HTTP ${result.status}` };
  return { lastError: result.error };
}
