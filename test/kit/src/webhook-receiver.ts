import type { IncomingMessage, ServerResponse } from "node:http";
import { DeliveryQueue } from "./delivery-queue.ts";
import { BodyTooLarge, header, headerMap, listen, readBody, sendJson } from "./http-receiver.ts";
import {
  verifyWebhookSignature,
  WEBHOOK_IDEMPOTENCY_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TOLERANCE_SECONDS,
} from "./webhook-signature.ts";

export interface WebhookReceiverOptions {
  /** The shared secret, or several (rotation: any one verifying is enough). */
  secret: string | readonly string[];
  /** Replay window in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Largest body accepted; larger get 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

/** A verified delivery. */
export interface WebhookDelivery {
  /** The parsed JSON body. */
  body: unknown;
  rawBody: string;
  /** `Threadline-Idempotency-Key`. */
  idempotencyKey: string;
  /** True when a verified delivery with the same idempotency key came before (it still gets 200). */
  duplicate: boolean;
  path: string;
  headers: Record<string, string>;
  receivedAt: Date;
}

/** Every request, including refused and failure-injected ones (for retry and backoff assertions). */
export interface WebhookAttempt {
  /** The status answered; 0 for a request held unanswered (`holdNext`). */
  status: number;
  /** Why it was not 200: a signature failure, `injected`, `held`, or a body problem. */
  reason: string | undefined;
  idempotencyKey: string | undefined;
  receivedAt: Date;
}

/**
 * A local webhook endpoint for tests that verifies Threadline's signature
 * scheme (see {@link signWebhook}): any `POST` with
 * `Threadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
 * `Threadline-Idempotency-Key` and a JSON body.
 *
 * Answers 200 and records the delivery, or: 401 missing / malformed / wrong
 * signature or a timestamp outside the replay window, 400 no idempotency key
 * or a body that is not JSON, 413 body too large, or whatever `failNext`
 * injected.
 */
export interface WebhookReceiver extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/webhook` (any path is accepted). */
  readonly url: string;
  /** Verified deliveries in arrival order (duplicates included, flagged). */
  received(): WebhookDelivery[];
  attempts(): WebhookAttempt[];
  /** The earliest verified delivery matching `predicate` not handed out before; `TestKitError` `TIMEOUT` after `timeoutMs` (default 5000). */
  next(predicate?: (delivery: WebhookDelivery) => boolean, timeoutMs?: number): Promise<WebhookDelivery>;
  /**
   * The next `count` correctly signed requests get `status` (default 503)
   * and are not recorded as delivered, to test retries. `headers` are added
   * to those responses (e.g. `{ "retry-after": "1" }`).
   */
  failNext(count: number, status?: number, headers?: Record<string, string>): void;
  /**
   * The next `count` correctly signed requests are never answered (a hung
   * receiver: the sender's own timeout ends them; `close()` drops them).
   * Each is in `attempts()` at once, with status 0 and reason `held`.
   */
  holdNext(count: number): void;
  close(): Promise<void>;
}

/**
 * Starts a webhook receiver on 127.0.0.1.
 * @example
 *   await using hooks = await startWebhookReceiver({ secret: "s3cret" });
 *   hooks.failNext(2); // the notifier must retry twice
 *   const delivery = await hooks.next((d) => d.idempotencyKey === key, 20_000);
 */
export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const secrets = typeof options.secret === "string" ? [options.secret] : [...options.secret];
  if (secrets.length === 0 || secrets.some((s) => s === ""))
    throw new Error("startWebhookReceiver: secret must be non-empty");
  const toleranceSeconds = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const deliveries = new DeliveryQueue<WebhookDelivery>("webhook receiver");
  const attempts: WebhookAttempt[] = [];
  const seenKeys = new Set<string>();
  let failure = { remaining: 0, status: 503, headers: {} as Record<string, string> };
  let holding = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const idempotencyKey = header(req, WEBHOOK_IDEMPOTENCY_HEADER);
    const answer = (status: number, reason: string | undefined, headers: Record<string, string> = {}) => {
      attempts.push({ status, reason, idempotencyKey, receivedAt: new Date() });
      sendJson(res, status, reason === undefined ? { ok: true } : { error: reason }, headers);
    };
    if (req.method !== "POST") return answer(405, "POST only");
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) return answer(413, error.message);
      throw error;
    }
    const signatureFailure = verifyWebhookSignature(header(req, WEBHOOK_SIGNATURE_HEADER), raw, secrets, {
      toleranceSeconds,
    });
    if (signatureFailure !== undefined) return answer(401, `signature ${signatureFailure}`);
    if (idempotencyKey === undefined || idempotencyKey === "")
      return answer(400, `missing ${WEBHOOK_IDEMPOTENCY_HEADER}`);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      return answer(400, "body is not JSON");
    }
    if (holding > 0) {
      holding--;
      attempts.push({ status: 0, reason: "held", idempotencyKey, receivedAt: new Date() });
      return;
    }
    if (failure.remaining > 0) {
      failure.remaining--;
      return answer(failure.status, "injected", failure.headers);
    }
    const duplicate = seenKeys.has(idempotencyKey);
    seenKeys.add(idempotencyKey);
    deliveries.push({
      body,
      rawBody: raw.toString("utf8"),
      idempotencyKey,
      duplicate,
      path: req.url ?? "/",
      headers: headerMap(req),
      receivedAt: new Date(),
    });
    answer(200, undefined);
  };

  const listening = await listen(handle);
  const receiver: WebhookReceiver = {
    url: `${listening.origin}/webhook`,
    received: () => deliveries.all(),
    attempts: () => [...attempts],
    next: (predicate, timeoutMs) => deliveries.next(predicate, timeoutMs),
    failNext: (count, status = 503, headers = {}) => {
      failure = { remaining: count, status, headers };
    },
    holdNext: (count) => {
      holding = count;
    },
    close: async () => {
      deliveries.close();
      await listening.close();
    },
    [Symbol.asyncDispose]: () => receiver.close(),
  };
  return receiver;
}
