import { createPushSubscription } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { api, usePushStack } from "./support/push-api.ts";

const APP = "https://app.example.com";
const EVIL = "https://evil.example.com";
const fx = usePushStack({
  THREADLINE_ALLOWED_ORIGINS: APP,
  THREADLINE_LIMIT_HTTP_WRITES_PER_MINUTE: "1",
  THREADLINE_LIMIT_HTTP_WRITE_BURST: "3",
});

const PREFS = { muted: false, mutedSessions: [], events: {} };

describe("per-user write budget", () => {
  it("the writes past the burst get 429 RATE_LIMITED with retry-after; reads and other users go on", async () => {
    const port = fx.stack.gateway.port;
    const token = await fx.stack.token({ sub: "busy" });
    const writes = [
      () =>
        api(port, "PUT", "/v1/push/subscriptions", { token, body: { subscription: createPushSubscription(fx.push) } }),
      () => api(port, "PUT", "/v1/notifications/preferences", { token, body: { preferences: PREFS } }),
      () => api(port, "DELETE", "/v1/push/subscriptions/0123456789abcdef0123456789abcdef", { token }),
    ];
    expect(await Promise.all(writes.map(async (write) => (await write()).status))).toEqual([201, 200, 204]);

    const refused = await api(port, "PUT", "/v1/notifications/preferences", {
      token,
      body: { preferences: PREFS },
      headers: { origin: APP },
    });
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({ code: "RATE_LIMITED", retryable: true });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60); // one write per minute
    // A page can read why and when: CORS headers on the refusal, retry-after exposed.
    expect(refused.headers.get("access-control-allow-origin")).toBe(APP);
    expect(refused.headers.get("access-control-expose-headers")).toBe("retry-after");

    expect((await api(port, "GET", "/v1/notifications/preferences", { token })).status).toBe(200);
    const other = await fx.stack.token({ sub: "quiet" });
    expect(
      (await api(port, "PUT", "/v1/notifications/preferences", { token: other, body: { preferences: PREFS } })).status,
    ).toBe(200);

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^threadline_gateway_http_writes_limited_total 1$/m);
    expect(metrics).toMatch(/^threadline_gateway_push_registrations_total\{result="created"\} 1$/m);
  });
});

describe("CORS on the push routes", () => {
  const paths = [
    "/v1/push/vapid-public-key",
    "/v1/push/subscriptions",
    "/v1/push/subscriptions/0123456789abcdef0123456789abcdef",
    "/v1/notifications/preferences",
  ];

  it.each(paths)("a preflight from an allowed origin gets 204 allowing PUT and DELETE: %s", async (path) => {
    const reply = await api(fx.stack.gateway.port, "OPTIONS", path, {
      headers: {
        origin: APP,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(reply.status).toBe(204);
    expect(reply.headers.get("access-control-allow-origin")).toBe(APP);
    expect(reply.headers.get("access-control-allow-methods")).toBe("GET, PUT, DELETE, OPTIONS");
    expect(reply.headers.get("access-control-allow-headers")).toBe("Authorization, Content-Type");
    expect(reply.headers.get("vary")).toBe("Origin");
  });

  it.each(paths)("a preflight from another origin gets 403 without CORS headers: %s", async (path) => {
    const reply = await api(fx.stack.gateway.port, "OPTIONS", path, {
      headers: { origin: EVIL, "access-control-request-method": "DELETE" },
    });
    expect(reply.status).toBe(403);
    expect(reply.headers.get("access-control-allow-origin")).toBeNull();
    expect(reply.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("answers carry the allow-origin header for allowed origins only", async () => {
    const allowed = await api(fx.stack.gateway.port, "GET", "/v1/push/vapid-public-key", { headers: { origin: APP } });
    expect([allowed.status, allowed.headers.get("access-control-allow-origin")]).toEqual([200, APP]);
    const token = await fx.stack.token({ sub: "cors-reader" });
    const other = await api(fx.stack.gateway.port, "GET", "/v1/push/subscriptions", {
      token,
      headers: { origin: EVIL },
    });
    expect([other.status, other.headers.get("access-control-allow-origin")]).toEqual([200, null]);
    expect(other.headers.get("vary")).toBe("Origin");
  });
});
