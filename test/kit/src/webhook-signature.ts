import { createHmac, timingSafeEqual } from "node:crypto";

/** The header carrying the signature. */
export const WEBHOOK_SIGNATURE_HEADER = "Threadline-Signature";
/** The header carrying the per-trigger idempotency key (the same on every retry). */
export const WEBHOOK_IDEMPOTENCY_HEADER = "Threadline-Idempotency-Key";
/** Signatures older (or further ahead) than this are refused as replays. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * Signs a webhook body (Stripe-style):
 * `Threadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * The HMAC covers the exact bytes sent, so the receiver verifies before parsing.
 * @example
 *   const body = JSON.stringify(event);
 *   fetch(url, { method: "POST", body, headers: { "threadline-signature": signWebhook(secret, body) } });
 */
export function signWebhook(
  secret: string,
  body: string | Buffer,
  timestampSeconds = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestampSeconds},v1=${webhookHmac(secret, timestampSeconds, body)}`;
}

/** Why a signature was refused. */
export type WebhookSignatureFailure = "missing" | "malformed" | "stale" | "mismatch";

/**
 * Verifies a `Threadline-Signature` header against the raw body: some `v1=`
 * entry (several are allowed, e.g. during secret rotation) must equal the
 * HMAC under one of `secrets`, compared in constant time, and `t` must be
 * within `toleranceSeconds` of now. Returns `undefined` when valid.
 */
export function verifyWebhookSignature(
  header: string | undefined,
  body: Buffer,
  secrets: readonly string[],
  options: { toleranceSeconds?: number; nowMs?: number } = {},
): WebhookSignatureFailure | undefined {
  if (header === undefined || header === "") return "missing";
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, "hex"));
  }
  if (timestamp === undefined || signatures.length === 0) return "malformed";
  const now = (options.nowMs ?? Date.now()) / 1000;
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) return "stale";
  for (const secret of secrets) {
    const expected = Buffer.from(webhookHmac(secret, timestamp, body), "hex");
    if (signatures.some((signature) => timingSafeEqual(signature, expected))) return undefined;
  }
  return "mismatch";
}

function webhookHmac(secret: string, timestampSeconds: number, body: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestampSeconds}.`).update(body).digest("hex");
}
