import { Kvm } from "@nats-io/kv";
import { PushSubscriptions } from "@threadline/store";
import { createPushSubscription, subscriptionIdOf, testTlsAgent } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import webPush from "web-push";
import { api, startPushStack, TEST_VAPID_KEYS, usePushStack } from "./support/push-api.ts";

const fx = usePushStack();

const SUBSCRIPTIONS = "/v1/push/subscriptions";

describe("push subscriptions over HTTP (PROTOCOL.md §20)", () => {
  it("register → 201, the same browser again → 200; list shows it without keys; delete → 204, also when gone", async () => {
    const token = await fx.stack.token({ sub: "reg-user" });
    const subscription = createPushSubscription(fx.push);
    const browser = { "user-agent": "Mozilla/5.0 (X11; Linux) Test/1" };
    const first = await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, {
      token,
      body: { subscription, device: "laptop" },
      headers: browser,
    });
    expect(first.status).toBe(201);
    const { id } = first.json as { id: string };
    expect(first.json).toEqual({ id: expect.stringMatching(/^[0-9a-f]{32}$/), created: true, evicted: [] });

    const again = await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, {
      token,
      body: { subscription, device: "laptop" },
      headers: browser,
    });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ id, created: false, evicted: [] });

    const listed = await api(fx.stack.gateway.port, "GET", SUBSCRIPTIONS, { token });
    expect(listed.status).toBe(200);
    const { subscriptions } = listed.json as { subscriptions: Record<string, unknown>[] };
    expect(subscriptions).toEqual([
      {
        id,
        endpointOrigin: fx.push.origin,
        createdAt: expect.any(Number),
        registeredAt: expect.any(Number),
        device: "laptop",
        userAgent: "Mozilla/5.0 (X11; Linux) Test/1",
      },
    ]);
    expect(JSON.stringify(listed.json)).not.toContain(subscription.keys.auth);

    // Another user sees nothing of it and cannot remove it.
    const mallory = await fx.stack.token({ sub: "mallory" });
    expect((await api(fx.stack.gateway.port, "GET", SUBSCRIPTIONS, { token: mallory })).json).toEqual({
      subscriptions: [],
    });
    expect((await api(fx.stack.gateway.port, "DELETE", `${SUBSCRIPTIONS}/${id}`, { token: mallory })).status).toBe(204);
    expect((await api(fx.stack.gateway.port, "GET", SUBSCRIPTIONS, { token })).json).toMatchObject({
      subscriptions: [{ id }],
    });

    const removed = await api(fx.stack.gateway.port, "DELETE", `${SUBSCRIPTIONS}/${id}`, { token });
    expect([removed.status, removed.json]).toEqual([204, undefined]);
    expect((await api(fx.stack.gateway.port, "GET", SUBSCRIPTIONS, { token })).json).toEqual({ subscriptions: [] });
    expect((await api(fx.stack.gateway.port, "DELETE", `${SUBSCRIPTIONS}/${id}`, { token })).status).toBe(204);
    expect((await api(fx.stack.gateway.port, "DELETE", `${SUBSCRIPTIONS}/not-an-id`, { token })).status).toBe(204);
  });

  it("what the gateway stores is what the notifier sends with: a real encrypted push reaches the browser", async () => {
    const token = await fx.stack.token({ sub: "delivery-user" });
    const subscription = createPushSubscription(fx.push, { applicationServerKey: TEST_VAPID_KEYS.publicKey });
    expect((await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, { token, body: { subscription } })).status).toBe(
      201,
    );

    const stored = await new PushSubscriptions(await new Kvm(fx.stack.nc).open("threadline-push")).list(
      "delivery-user",
    );
    expect(stored).toHaveLength(1);
    await webPush.sendNotification(stored[0]!, JSON.stringify({ hello: "from the notifier" }), {
      vapidDetails: { subject: "mailto:ops@example.com", ...TEST_VAPID_KEYS },
      TTL: 60,
      agent: testTlsAgent(),
    });
    const delivery = await fx.push.next((d) => d.subscriptionId === subscriptionIdOf(subscription));
    expect(delivery.json).toEqual({ hello: "from the notifier" });
  });

  it("refuses an endpoint outside THREADLINE_PUSH_ALLOWED_HOSTS with 403 and stores nothing", async () => {
    const token = await fx.stack.token({ sub: "ssrf-user" });
    const subscription = { ...createPushSubscription(fx.push), endpoint: "https://169.254.169.254/latest/meta-data" };
    const reply = await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, { token, body: { subscription } });
    expect(reply.status).toBe(403);
    expect(reply.json).toMatchObject({ code: "PUSH_HOST_NOT_ALLOWED", retryable: false });
    expect((await api(fx.stack.gateway.port, "GET", SUBSCRIPTIONS, { token })).json).toEqual({ subscriptions: [] });
  });

  it.each([
    ["keys missing", (s: Record<string, unknown>) => ({ subscription: { endpoint: s.endpoint } })],
    [
      "a 12-byte auth secret",
      (s: Record<string, unknown>) => ({
        subscription: { ...s, keys: { ...(s.keys as object), auth: "AAAAAAAAAAAAAAAA" } },
      }),
    ],
    [
      "plain http",
      (s: Record<string, unknown>) => ({
        subscription: { ...s, endpoint: String(s.endpoint).replace("https:", "http:") },
      }),
    ],
    ["an invalid device id", (s: Record<string, unknown>) => ({ subscription: s, device: "my laptop" })],
    ["no subscription at all", () => ({ device: "d1" })],
    ["a JSON array", () => [1, 2]],
    ["a body that is not JSON", () => "{not json"],
  ])("refuses %s with 400 INVALID_SUBSCRIPTION", async (_name, body) => {
    const token = await fx.stack.token({ sub: "invalid-user" });
    const reply = await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, {
      token,
      body: body(createPushSubscription(fx.push) as unknown as Record<string, unknown>),
    });
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ code: "INVALID_SUBSCRIPTION", message: expect.any(String), retryable: false });
    expect((await api(fx.stack.gateway.port, "GET", SUBSCRIPTIONS, { token })).json).toEqual({ subscriptions: [] });
  });

  it("refuses a body over 8 KiB with 413 PAYLOAD_TOO_LARGE, whether or not it announces its length", async () => {
    const token = await fx.stack.token({ sub: "big-user" });
    const subscription = createPushSubscription(fx.push);
    const big = JSON.stringify({ subscription, padding: "x".repeat(8 * 1024) });
    const announced = await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, { token, body: big });
    expect(announced.status).toBe(413);
    expect(announced.json).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    // Chunked (no Content-Length): the gateway counts while reading.
    const chunks = [big.slice(0, 4096), big.slice(4096)];
    const streamed = await fetch(`http://127.0.0.1:${fx.stack.gateway.port}${SUBSCRIPTIONS}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: new ReadableStream({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    // Just under the limit is read and judged on its content.
    const fits = JSON.stringify({ subscription, padding: "x".repeat(7 * 1024) });
    expect((await api(fx.stack.gateway.port, "PUT", SUBSCRIPTIONS, { token, body: fits })).status).toBe(201);
  });

  it.each([
    ["GET", SUBSCRIPTIONS],
    ["PUT", SUBSCRIPTIONS],
    ["DELETE", `${SUBSCRIPTIONS}/0123456789abcdef0123456789abcdef`],
    ["GET", "/v1/notifications/preferences"],
    ["PUT", "/v1/notifications/preferences"],
  ])("%s %s without a valid token → 401 AUTH_FAILED / TOKEN_EXPIRED", async (method, path) => {
    const body = method === "PUT" ? {} : undefined;
    const missing = await api(fx.stack.gateway.port, method, path, { body });
    expect([missing.status, (missing.json as { code: string }).code]).toEqual([401, "AUTH_FAILED"]);
    const forged = await api(fx.stack.gateway.port, method, path, {
      body,
      token: await fx.stack.token({ sub: "alice", secret: "another-secret-0123456789abcdef0123" }),
    });
    expect([forged.status, (forged.json as { code: string }).code]).toEqual([401, "AUTH_FAILED"]);
    const expired = await api(fx.stack.gateway.port, method, path, {
      body,
      token: await fx.stack.token({ sub: "alice", expiresIn: -60 }),
    });
    expect([expired.status, (expired.json as { code: string }).code]).toEqual([401, "TOKEN_EXPIRED"]);
  });
});

describe("GET /v1/push/vapid-public-key", () => {
  it("is public and serves the configured key", async () => {
    const reply = await api(fx.stack.gateway.port, "GET", "/v1/push/vapid-public-key");
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ publicKey: TEST_VAPID_KEYS.publicKey });
  });

  it("answers 404 PUSH_DISABLED when the gateway has no VAPID key", async () => {
    const disabled = await startPushStack({ THREADLINE_VAPID_PUBLIC_KEY: "" }, fx.stack.nats);
    onTestFinished(() => disabled[Symbol.asyncDispose]());
    const reply = await api(disabled.gateway.port, "GET", "/v1/push/vapid-public-key");
    expect(reply.status).toBe(404);
    expect(reply.json).toMatchObject({ code: "PUSH_DISABLED", retryable: false });
  });
});
