import { resolveBackoff } from "@threadline/protocol";
import { startWebhookReceiver, verifyWebhookSignature, waitFor } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import type { WebhookConfig } from "./config.ts";
import { deliverWebhook, MAX_RETRY_AFTER_MS, retryAfterMs, webhookNext, webhookSignature } from "./webhook.ts";

const policy = resolveBackoff({ initialDelayMs: 1000, maxDelayMs: 60_000, jitter: 0 });

describe("webhookSignature", () => {
  it("verifies with the test kit's receiver check, one v1 per secret (rotation)", () => {
    const body = JSON.stringify({ hello: "world" });
    const t = Math.floor(Date.now() / 1000);
    const header = webhookSignature(["old", "new"], body, t);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(header, Buffer.from(body), ["new"])).toBeUndefined();
    expect(verifyWebhookSignature(header, Buffer.from(body), ["old"])).toBeUndefined();
    expect(verifyWebhookSignature(header, Buffer.from(`${body} `), ["new"])).toBe("mismatch");
  });
});

describe("webhookNext (pure)", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it.each([
    ["200", { status: 200 }, 1, { action: "delivered" }],
    ["204", { status: 204 }, 1, { action: "delivered" }],
    ["network error", { error: "ECONNREFUSED" }, 1, { action: "retry", delayMs: 1000 }],
    ["503, third try", { status: 503 }, 3, { action: "retry", delayMs: 4000 }],
    ["408", { status: 408 }, 1, { action: "retry", delayMs: 1000 }],
    ["429 with Retry-After seconds", { status: 429, retryAfter: "7" }, 1, { action: "retry", delayMs: 7000 }],
    [
      "503 with Retry-After date",
      { status: 503, retryAfter: "Thu, 01 Jan 2026 00:00:30 GMT" },
      1,
      { action: "retry", delayMs: 30_000 },
    ],
    ["429 with a bad Retry-After: backoff", { status: 429, retryAfter: "soon" }, 2, { action: "retry", delayMs: 2000 }],
    ["400: permanent", { status: 400 }, 1, { action: "give-up", reason: "permanent" }],
    ["401: permanent (signature refused)", { status: 401 }, 1, { action: "give-up", reason: "permanent" }],
    ["301: permanent (redirects are not followed)", { status: 301 }, 1, { action: "give-up", reason: "permanent" }],
    ["500 on the last try", { status: 500 }, 8, { action: "give-up", reason: "exhausted" }],
  ] as const)("%s", (_name, result, attempt, expected) => {
    expect(webhookNext(result, attempt, 8, policy, now)).toEqual(expected);
  });

  it("Retry-After is capped and never negative", () => {
    expect(retryAfterMs("99999", now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe("deliverWebhook against the test kit's receiver", () => {
  const config = (url: string, overrides: Partial<WebhookConfig> = {}): WebhookConfig => ({
    url,
    secrets: ["s3cret"],
    maxAttempts: 4,
    timeoutMs: 2000,
    backoffMs: 20,
    backoffMaxMs: 50,
    ...overrides,
  });

  it("503 twice, then delivered once, same idempotency key on every try", async () => {
    const hooks = await startWebhookReceiver({ secret: "s3cret" });
    onTestFinished(() => hooks.close());
    hooks.failNext(2, 503);
    const outcome = await deliverWebhook(config(hooks.url), '{"a":1}', "n.e.s.1.u.hook", new AbortController().signal);
    expect(outcome).toMatchObject({ delivered: true, attempts: 3, lastStatus: 200 });
    expect(hooks.attempts().map((a) => [a.status, a.idempotencyKey])).toEqual([
      [503, "n.e.s.1.u.hook"],
      [503, "n.e.s.1.u.hook"],
      [200, "n.e.s.1.u.hook"],
    ]);
    expect(hooks.received()).toHaveLength(1);
  });

  it("a wrong secret is refused (401): permanent, one try", async () => {
    const hooks = await startWebhookReceiver({ secret: "right" });
    onTestFinished(() => hooks.close());
    const outcome = await deliverWebhook(
      config(hooks.url, { secrets: ["wrong"] }),
      "{}",
      "k",
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ delivered: false, permanent: true, attempts: 1, lastStatus: 401 });
  });

  it("nobody listening: retried until maxAttempts, the last error kept", async () => {
    const hooks = await startWebhookReceiver({ secret: "s" });
    const url = hooks.url;
    await hooks.close();
    const outcome = await deliverWebhook(config(url, { maxAttempts: 3 }), "{}", "k", new AbortController().signal);
    expect(outcome).toMatchObject({ delivered: false, attempts: 3 });
    expect(outcome.permanent).toBe(false);
    expect(outcome.lastError).toMatch(/fetch failed|ECONNREFUSED/i);
  });

  it("an abort ends the waits at once", async () => {
    const hooks = await startWebhookReceiver({ secret: "s3cret" });
    onTestFinished(() => hooks.close());
    hooks.failNext(10, 503);
    const controller = new AbortController();
    const delivery = deliverWebhook(
      config(hooks.url, { backoffMs: 60_000, backoffMaxMs: 60_000 }),
      "{}",
      "k",
      controller.signal,
    );
    // a failNext answer is not a delivery (no event to await): wait for the first try to be answered
    await waitFor(() => hooks.attempts().length > 0, { timeoutMs: 5000 });
    controller.abort();
    expect(await delivery).toMatchObject({ delivered: false, aborted: true, attempts: 1 });
  });
});
