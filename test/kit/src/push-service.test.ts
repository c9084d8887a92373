import { request } from "node:https";
import { describe, expect, onTestFinished, test } from "vitest";
import webPush from "web-push";
import { TestKitError } from "./errors.ts";
import {
  createPushSubscription,
  type PushService,
  type PushSubscriptionJson,
  startPushService,
  subscriptionIdOf,
} from "./push-service.ts";
import { testTlsAgent } from "./test-tls.ts";

const subject = "mailto:ops@threadline.test";

async function startService(): Promise<PushService> {
  const service = await startPushService();
  onTestFinished(() => service.close());
  return service;
}

function vapidDetails(keys = webPush.generateVAPIDKeys()) {
  return { subject, publicKey: keys.publicKey, privateKey: keys.privateKey };
}

/** Sends web-push's own request (real encryption) after `edit` tampers with it, answering the status. */
function sendRaw(
  subscription: PushSubscriptionJson,
  payload: string,
  options: webPush.RequestOptions,
  edit: (details: { headers: Record<string, string | number>; body: Buffer | null }) => void = () => {},
): Promise<number> {
  const details = webPush.generateRequestDetails(subscription, payload, options);
  const headers = { ...details.headers } as Record<string, string | number>;
  const draft = { headers, body: details.body };
  edit(draft);
  return new Promise((resolve, reject) => {
    const req = request(details.endpoint, { method: "POST", headers: draft.headers, agent: testTlsAgent() }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(draft.body ?? undefined);
  });
}

describe("push service with the web-push library (real VAPID and RFC 8291 encryption)", () => {
  test("decrypts the payload exactly and records TTL, Urgency, Topic and the VAPID claims", async () => {
    const service = await startService();
    const subscription = createPushSubscription(service);
    const vapid = vapidDetails();
    const payload = JSON.stringify({ type: "turn.completed", sessionId: "s-1", text: "Ready — ✓ 🎉" });

    const result = await webPush.sendNotification(subscription, payload, {
      vapidDetails: vapid,
      TTL: 120,
      urgency: "high",
      topic: "session-s-1",
      agent: testTlsAgent(),
    });

    expect(result.statusCode).toBe(201);
    expect(result.headers.location).toMatch(new RegExp(`^${service.origin}/message/`));
    const delivery = await service.next();
    expect(delivery.subscriptionId).toBe(subscriptionIdOf(subscription));
    expect(delivery.payload).toBe(payload);
    expect(delivery.json).toEqual({ type: "turn.completed", sessionId: "s-1", text: "Ready — ✓ 🎉" });
    expect(delivery).toMatchObject({ ttl: 120, urgency: "high", topic: "session-s-1" });
    expect(delivery.vapid).toMatchObject({ publicKey: vapid.publicKey, aud: service.origin, sub: subject });
    expect(delivery.headers["content-encoding"]).toBe("aes128gcm");
    expect(service.received(delivery.subscriptionId)).toEqual([delivery]);
  });

  test("a push without a body, and one near the 4096-byte limit, are delivered; an oversize body gets 413", async () => {
    const service = await startService();
    const subscription = createPushSubscription(service);
    const options = { vapidDetails: vapidDetails(), agent: testTlsAgent() };

    await webPush.sendNotification(subscription, null, options);
    expect(await service.next()).toMatchObject({ payload: null, json: undefined, urgency: "normal", topic: undefined });
    const big = "x".repeat(3900);
    await webPush.sendNotification(subscription, big, options);
    expect((await service.next()).payload).toBe(big);

    const tooBig = sendRaw(subscription, "x".repeat(3900), options, (draft) => {
      draft.body = Buffer.concat([draft.body ?? Buffer.alloc(0), Buffer.alloc(200)]);
      draft.headers["Content-Length"] = draft.body.length;
    });
    expect(await tooBig).toBe(413);
  });

  test("each subscription decrypts with its own keys", async () => {
    const service = await startService();
    const a = createPushSubscription(service);
    const b = createPushSubscription(service);
    const options = { vapidDetails: vapidDetails(), agent: testTlsAgent() };
    await webPush.sendNotification(b, "for b", options);
    await webPush.sendNotification(a, "for a", options);
    expect((await service.next((d) => d.subscriptionId === subscriptionIdOf(a))).payload).toBe("for a");
    expect((await service.next((d) => d.subscriptionId === subscriptionIdOf(b))).payload).toBe("for b");
    // Keys swapped between subscriptions: the body no longer authenticates.
    const mixed = { ...a, keys: b.keys };
    expect(await sendRaw(mixed, "mixed", options)).toBe(400);
    expect(service.rejected(subscriptionIdOf(a))[0]?.reason).toMatch(/failed authentication/);
  });

  test("a tampered ciphertext is refused with 400", async () => {
    const service = await startService();
    const subscription = createPushSubscription(service);
    const status = await sendRaw(subscription, "hello", { vapidDetails: vapidDetails() }, (draft) => {
      const body = Buffer.from(draft.body ?? Buffer.alloc(0));
      body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 1;
      draft.body = body;
    });
    expect(status).toBe(400);
    expect(service.received()).toEqual([]);
  });
});

describe("VAPID (RFC 8292) is enforced", () => {
  test("a push signed with another key than the subscription's applicationServerKey gets 403", async () => {
    const service = await startService();
    const appKeys = webPush.generateVAPIDKeys();
    const subscription = createPushSubscription(service, { applicationServerKey: appKeys.publicKey });

    const refused = webPush.sendNotification(subscription, "hi", {
      vapidDetails: vapidDetails(),
      agent: testTlsAgent(),
    });
    await expect(refused).rejects.toMatchObject({ name: "WebPushError", statusCode: 403 });
    await webPush.sendNotification(subscription, "hi", { vapidDetails: vapidDetails(appKeys), agent: testTlsAgent() });
    expect((await service.next()).payload).toBe("hi");
  });

  test("a JWT whose signature does not match k= gets 401", async () => {
    const service = await startService();
    const subscription = createPushSubscription(service);
    const other = webPush.generateVAPIDKeys();
    const status = await sendRaw(subscription, "hi", { vapidDetails: vapidDetails() }, (draft) => {
      draft.headers.Authorization = String(draft.headers.Authorization).replace(/k=[^,\s]+/, `k=${other.publicKey}`);
    });
    expect(status).toBe(401);
    expect(service.rejected()[0]?.reason).toMatch(/signature/);
  });

  test("an expired JWT, a JWT for another audience and a missing Authorization get 401", async () => {
    const service = await startService();
    const subscription = createPushSubscription(service);
    const keys = webPush.generateVAPIDKeys();
    const header = (audience: string, expiration?: number) =>
      webPush.getVapidHeaders(audience, subject, keys.publicKey, keys.privateKey, "aes128gcm", expiration)
        .Authorization;
    const withAuthorization = (authorization: string | undefined) =>
      sendRaw(subscription, "hi", { vapidDetails: vapidDetails(keys) }, (draft) => {
        if (authorization === undefined) delete draft.headers.Authorization;
        else draft.headers.Authorization = authorization;
      });

    expect(await withAuthorization(header(service.origin, Math.floor(Date.now() / 1000) - 60))).toBe(401);
    expect(await withAuthorization(header("https://push.example.com"))).toBe(401);
    expect(await withAuthorization(undefined)).toBe(401);
    expect(service.rejected().map((r) => r.reason)).toEqual([
      expect.stringMatching(/expired/),
      expect.stringMatching(/aud/),
      expect.stringMatching(/missing Authorization/),
    ]);
    // The same request with a valid header goes through: the refusals were about the header only.
    expect(await withAuthorization(header(service.origin))).toBe(201);
  });
});

describe("subscription lifecycle and waiting", () => {
  test("an expired subscription answers 410 and web-push reports statusCode 410; gone(id, 404) answers 404", async () => {
    const service = await startService();
    const expired = createPushSubscription(service);
    const removed = createPushSubscription(service);
    const options = { vapidDetails: vapidDetails(), agent: testTlsAgent() };
    await webPush.sendNotification(expired, "before", options);

    service.expire(subscriptionIdOf(expired));
    service.gone(subscriptionIdOf(removed), 404);
    await expect(webPush.sendNotification(expired, "after", options)).rejects.toMatchObject({ statusCode: 410 });
    await expect(webPush.sendNotification(removed, "after", options)).rejects.toMatchObject({ statusCode: 404 });
    const unknown = { ...expired, endpoint: `${service.origin}/push/nobody` };
    await expect(webPush.sendNotification(unknown, "x", options)).rejects.toMatchObject({ statusCode: 404 });
    expect(service.received().map((d) => d.payload)).toEqual(["before"]);
  });

  test("next() waits for a later delivery, hands each out once, times out, and rejects on close", async () => {
    const service = await startPushService();
    const subscription = createPushSubscription(service);
    const options = { vapidDetails: vapidDetails(), agent: testTlsAgent() };
    const waiting = service.next((d) => d.payload === "second");
    await webPush.sendNotification(subscription, "first", options);
    await webPush.sendNotification(subscription, "second", options);
    expect((await waiting).payload).toBe("second");
    expect((await service.next()).payload).toBe("first");

    const timedOut = service.next(() => true, 50);
    await expect(timedOut).rejects.toMatchObject({ code: "TIMEOUT" });
    const pending = service.next();
    await service.close();
    await expect(pending).rejects.toBeInstanceOf(TestKitError);
    await expect(webPush.sendNotification(subscription, "late", options)).rejects.toThrow();
  });
});
