import { createHmac } from "node:crypto";
import { describe, expect, onTestFinished, test } from "vitest";
import { startWebhookReceiver, type WebhookReceiver } from "./webhook-receiver.ts";
import { signWebhook, verifyWebhookSignature } from "./webhook-signature.ts";

const secret = "whsec_test_0123456789";

async function startReceiver(secretOption: string | string[] = secret): Promise<WebhookReceiver> {
  const receiver = await startWebhookReceiver({ secret: secretOption });
  onTestFinished(() => receiver.close());
  return receiver;
}

function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
}

function signed(body: string, key = "trigger-1", timestamp?: number, signingSecret = secret): Record<string, string> {
  return { "threadline-signature": signWebhook(signingSecret, body, timestamp), "threadline-idempotency-key": key };
}

describe("webhook signature scheme", () => {
  test("the header is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>", () => {
    const body = '{"type":"turn.completed"}';
    const expected = createHmac("sha256", secret).update(`1700000000.${body}`).digest("hex");
    expect(signWebhook(secret, body, 1_700_000_000)).toBe(`t=1700000000,v1=${expected}`);
    const at = { nowMs: 1_700_000_000_000 };
    const raw = Buffer.from(body);
    expect(verifyWebhookSignature(`t=1700000000,v1=${expected}`, raw, [secret], at)).toBeUndefined();
    expect(
      verifyWebhookSignature(`t=1700000000,v1=${"0".repeat(64)},v1=${expected}`, raw, [secret], at),
    ).toBeUndefined();
    expect(verifyWebhookSignature(`t=1700000000,v1=${expected}`, Buffer.from(`${body} `), [secret], at)).toBe(
      "mismatch",
    );
    expect(verifyWebhookSignature(`t=1700000000,v1=${expected}`, raw, [secret], { nowMs: 1_700_000_301_000 })).toBe(
      "stale",
    );
    expect(verifyWebhookSignature(`t=1700000000,v1=${expected}`, raw, [secret], { nowMs: 1_699_999_699_000 })).toBe(
      "stale",
    );
    expect(verifyWebhookSignature(`v1=${expected}`, raw, [secret], at)).toBe("malformed");
    expect(verifyWebhookSignature(undefined, raw, [secret], at)).toBe("missing");
  });
});

describe("webhook receiver", () => {
  test("records a correctly signed delivery with its parsed body and idempotency key; a repeat is flagged duplicate", async () => {
    const receiver = await startReceiver();
    const body = JSON.stringify({ type: "approval.waiting", sessionId: "s-9" });

    const response = await post(receiver.url, body, { ...signed(body), "x-extra": "1" });
    expect(response.status).toBe(200);
    const delivery = await receiver.next();
    expect(delivery).toMatchObject({
      body: { type: "approval.waiting", sessionId: "s-9" },
      rawBody: body,
      idempotencyKey: "trigger-1",
      duplicate: false,
      path: "/webhook",
    });
    expect(delivery.headers["x-extra"]).toBe("1");

    expect((await post(receiver.url, body, signed(body))).status).toBe(200);
    expect((await receiver.next()).duplicate).toBe(true);
  });

  test("refuses a bad, missing or stale signature (401) and a missing idempotency key (400), recording nothing", async () => {
    const receiver = await startReceiver();
    const body = JSON.stringify({ type: "turn.completed" });
    const now = Math.floor(Date.now() / 1000);

    expect((await post(receiver.url, body, signed(body, "k", now, "another-secret"))).status).toBe(401);
    expect((await post(receiver.url, `${body} `, signed(body))).status).toBe(401);
    expect((await post(receiver.url, body, { "threadline-idempotency-key": "k" })).status).toBe(401);
    expect((await post(receiver.url, body, signed(body, "k", now - 301))).status).toBe(401);
    expect((await post(receiver.url, body, { "threadline-signature": signWebhook(secret, body) })).status).toBe(400);
    expect((await post(receiver.url, "not json", signed("not json"))).status).toBe(400);

    expect(receiver.received()).toEqual([]);
    expect(receiver.attempts().map((a) => a.reason)).toEqual([
      "signature mismatch",
      "signature mismatch",
      "signature missing",
      "signature stale",
      "missing Threadline-Idempotency-Key",
      "body is not JSON",
    ]);
  });

  test("accepts any of several secrets (rotation)", async () => {
    const receiver = await startReceiver(["new-secret", secret]);
    const body = "{}";
    expect((await post(receiver.url, body, signed(body, "k", undefined, "new-secret"))).status).toBe(200);
    expect((await post(receiver.url, body, signed(body, "k2"))).status).toBe(200);
    expect(receiver.received().map((d) => d.idempotencyKey)).toEqual(["k", "k2"]);
  });

  test("failNext(n, status) fails the next n signed requests, then deliveries go through", async () => {
    const receiver = await startReceiver();
    const body = JSON.stringify({ n: 1 });
    receiver.failNext(2, 503, { "retry-after": "1" });

    const first = await post(receiver.url, body, signed(body));
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBe("1");
    // An unsigned request is refused on its own merits and does not use up an injected failure.
    expect((await post(receiver.url, body, {})).status).toBe(401);
    expect((await post(receiver.url, body, signed(body))).status).toBe(503);
    expect((await post(receiver.url, body, signed(body))).status).toBe(200);

    expect(receiver.attempts().map((a) => a.status)).toEqual([503, 401, 503, 200]);
    expect(receiver.received()).toHaveLength(1);
    expect(receiver.received()[0]?.duplicate).toBe(false);
  });
});
