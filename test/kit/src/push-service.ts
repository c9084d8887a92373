import { createECDH, type ECDH, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DeliveryQueue } from "./delivery-queue.ts";
import { BodyTooLarge, header, headerMap, listen, readBody, sendJson } from "./http-receiver.ts";
import { decryptPushPayload, PushDecryptError } from "./push-decrypt.ts";
import { TEST_TLS_CERT, TEST_TLS_KEY } from "./test-tls.ts";
import { type VapidClaims, VapidError, verifyVapid } from "./vapid.ts";

/** A browser's `PushSubscription.toJSON()`: what a device registers with the application. */
export interface PushSubscriptionJson {
  endpoint: string;
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
}

/** One push message the service accepted (and decrypted). */
export interface PushDelivery {
  subscriptionId: string;
  /** The decrypted payload as UTF-8; `null` for a push without a body. */
  payload: string | null;
  /** `payload` parsed as JSON; `undefined` when there is none or it is not JSON. */
  json: unknown;
  ttl: number;
  urgency: PushUrgency;
  topic: string | undefined;
  vapid: VapidClaims;
  headers: Record<string, string>;
  receivedAt: Date;
}

export type PushUrgency = "very-low" | "low" | "normal" | "high";

/** A push the service refused, with the status it answered and why. */
export interface PushRejection {
  subscriptionId: string;
  status: number;
  reason: string;
  receivedAt: Date;
}

export interface PushServiceOptions {
  /** Largest encrypted body accepted; larger ones get 413 (RFC 8030 §7.2; 4096 is what push services guarantee, RFC 8291 §4). Default 4096. */
  maxBodyBytes?: number;
}

export interface CreatePushSubscriptionOptions {
  /**
   * The application server key the "browser" subscribed with
   * (`pushManager.subscribe({ applicationServerKey })`, base64url). Pushes
   * signed with any other VAPID key then get 403 (RFC 8292 §4).
   */
  applicationServerKey?: string;
}

/**
 * A local Web Push service (RFC 8030) over HTTPS on 127.0.0.1 for tests
 * (self-signed: see `testTlsAgent()` / {@link PushService.ca}): real VAPID
 * verification (RFC 8292) and real payload decryption (RFC 8291 / RFC 8188)
 * with the subscription's private key, as a browser would.
 *
 * `POST /push/<id>` answers 201 (+ `Location`) and records the delivery, or:
 * 400 bad TTL / Urgency / Topic header or undecryptable body, 401 missing or
 * invalid VAPID, 403 VAPID key is not the subscription's application server
 * key, 404 unknown subscription (or `gone(id, 404)`), 410 expired
 * subscription, 413 body too large, 415 Content-Encoding is not aes128gcm
 * (the legacy `aesgcm` draft is not supported).
 */
export interface PushService extends AsyncDisposable {
  /** `https://127.0.0.1:<port>`; also the `aud` VAPID JWTs must carry. */
  readonly origin: string;
  /** The service's self-signed certificate (PEM): trust it with `testTlsAgent()` or `NODE_EXTRA_CA_CERTS`. */
  readonly ca: string;
  /** Every accepted delivery (optionally only those to one subscription), in arrival order. */
  received(subscriptionId?: string): PushDelivery[];
  /** Every refused push, in arrival order. */
  rejected(subscriptionId?: string): PushRejection[];
  /**
   * The earliest accepted delivery matching `predicate` not handed out by an
   * earlier `next()`, waiting for it if needed; rejects with `TestKitError`
   * `TIMEOUT` after `timeoutMs` (default 5000).
   */
  next(predicate?: (delivery: PushDelivery) => boolean, timeoutMs?: number): Promise<PushDelivery>;
  /** The subscription expired (the user revoked it): later pushes get 410 Gone. */
  expire(subscriptionId: string): void;
  /** Later pushes to the subscription get `status` (404 or 410). */
  gone(subscriptionId: string, status?: 404 | 410): void;
  /** Stops listening; pending `next()` calls reject with `STOPPED`. Idempotent. */
  close(): Promise<void>;
}

/** What the service knows of a subscription (the "browser" side of it). */
interface SubscriptionState {
  keys: ECDH;
  authSecret: Buffer;
  applicationServerKey: string | undefined;
  goneStatus: 404 | 410 | undefined;
}

const services = new WeakMap<PushService, Map<string, SubscriptionState>>();
const URGENCIES = new Set(["very-low", "low", "normal", "high"]);
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Starts a local push service.
 * @example
 *   await using push = await startPushService();
 *   const subscription = createPushSubscription(push);
 *   await webPush.sendNotification(subscription, JSON.stringify({ hi: 1 }), { vapidDetails, agent: testTlsAgent() });
 *   expect((await push.next()).json).toEqual({ hi: 1 });
 */
export async function startPushService(options: PushServiceOptions = {}): Promise<PushService> {
  const maxBodyBytes = options.maxBodyBytes ?? 4096;
  const subscriptions = new Map<string, SubscriptionState>();
  const deliveries = new DeliveryQueue<PushDelivery>("push service");
  const rejections: PushRejection[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const match = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? "");
    if (req.method !== "POST" || match === null) {
      sendJson(res, 404, { error: "not_found", message: "POST /push/<subscription id>" });
      return;
    }
    const id = match[1] ?? "";
    const reject = (status: number, reason: string) => {
      rejections.push({ subscriptionId: id, status, reason, receivedAt: new Date() });
      sendJson(res, status, { error: reason });
    };
    const subscription = subscriptions.get(id);
    if (subscription === undefined) return reject(404, "unknown subscription");
    if (subscription.goneStatus !== undefined) return reject(subscription.goneStatus, "subscription expired");

    let vapid: VapidClaims;
    try {
      vapid = verifyVapid(req.headers.authorization, listening.origin);
    } catch (error) {
      if (error instanceof VapidError) return reject(401, error.message);
      throw error;
    }
    if (subscription.applicationServerKey !== undefined && vapid.publicKey !== subscription.applicationServerKey) {
      return reject(403, "VAPID key is not the subscription's application server key");
    }
    const ttlHeader = header(req, "ttl");
    if (ttlHeader === undefined || !/^\d+$/.test(ttlHeader))
      return reject(400, "missing or invalid TTL header (RFC 8030 §5.2)");
    const urgency = header(req, "urgency") ?? "normal";
    if (!URGENCIES.has(urgency)) return reject(400, `invalid Urgency ${urgency} (RFC 8030 §5.3)`);
    const topic = header(req, "topic");
    if (topic !== undefined && !TOPIC.test(topic))
      return reject(400, "invalid Topic: at most 32 base64url characters (RFC 8030 §5.4)");

    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) return reject(413, error.message);
      throw error;
    }
    let payload: string | null = null;
    if (body.length > 0) {
      const encoding = req.headers["content-encoding"];
      if (encoding !== "aes128gcm") return reject(415, `Content-Encoding ${String(encoding)} is not aes128gcm`);
      try {
        payload = decryptPushPayload(body, subscription.keys, subscription.authSecret).toString("utf8");
      } catch (error) {
        if (error instanceof PushDecryptError) return reject(400, error.message);
        throw error;
      }
    }
    const messageId = randomUUID();
    deliveries.push({
      subscriptionId: id,
      payload,
      json: parseJson(payload),
      ttl: Number(ttlHeader),
      urgency: urgency as PushUrgency,
      topic,
      vapid,
      headers: headerMap(req),
      receivedAt: new Date(),
    });
    sendJson(res, 201, { id: messageId }, { location: `${listening.origin}/message/${messageId}` });
  };

  const listening = await listen(handle, { cert: TEST_TLS_CERT, key: TEST_TLS_KEY });
  const setGone = (subscriptionId: string, status: 404 | 410) => {
    const subscription = subscriptions.get(subscriptionId);
    if (subscription === undefined) throw new Error(`push service: unknown subscription ${subscriptionId}`);
    subscription.goneStatus = status;
  };
  const service: PushService = {
    origin: listening.origin,
    ca: TEST_TLS_CERT,
    received: (subscriptionId) =>
      deliveries.all().filter((d) => subscriptionId === undefined || d.subscriptionId === subscriptionId),
    rejected: (subscriptionId) =>
      rejections.filter((r) => subscriptionId === undefined || r.subscriptionId === subscriptionId),
    next: (predicate, timeoutMs) => deliveries.next(predicate, timeoutMs),
    expire: (subscriptionId) => setGone(subscriptionId, 410),
    gone: (subscriptionId, status = 410) => setGone(subscriptionId, status),
    close: async () => {
      deliveries.close();
      await listening.close();
    },
    [Symbol.asyncDispose]: () => service.close(),
  };
  services.set(service, subscriptions);
  return service;
}

/**
 * Subscribes a "browser" at `service`: a fresh P-256 key pair and 16-byte
 * auth secret, returned as `PushSubscription.toJSON()` would. The id is the
 * endpoint's last path segment (`subscriptionIdOf`).
 */
export function createPushSubscription(
  service: PushService,
  options: CreatePushSubscriptionOptions = {},
): PushSubscriptionJson {
  const subscriptions = services.get(service);
  if (subscriptions === undefined) throw new Error("createPushSubscription: not a service from startPushService()");
  const keys = createECDH("prime256v1");
  keys.generateKeys();
  const authSecret = randomBytes(16);
  const id = randomUUID();
  subscriptions.set(id, {
    keys,
    authSecret,
    applicationServerKey: options.applicationServerKey,
    goneStatus: undefined,
  });
  return {
    endpoint: `${service.origin}/push/${id}`,
    expirationTime: null,
    keys: { p256dh: keys.getPublicKey().toString("base64url"), auth: authSecret.toString("base64url") },
  };
}

/** The subscription id in an endpoint from {@link createPushSubscription}. */
export function subscriptionIdOf(subscription: PushSubscriptionJson): string {
  return new URL(subscription.endpoint).pathname.split("/").pop() ?? "";
}

function parseJson(payload: string | null): unknown {
  if (payload === null) return undefined;
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}
