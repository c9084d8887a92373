import { resolveBackoff } from "@threadline/protocol";
import { pushSubscriptionId } from "@threadline/store";
import { createPushSubscription, startPushService, subscriptionIdOf, testTlsAgent } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import webPush from "web-push";
import type { Trigger } from "./trigger.ts";
import { pushHeaders, pushTopic, pushUrgency, WebPushChannel } from "./web-push.ts";

const base = { session: "s1", ts: 0, eventId: "e" };
const turnEnd: Trigger = { ...base, seq: 1, kind: "turn.end", status: "completed" };
const approval = (deadline: number): Trigger => ({ ...base, seq: 2, kind: "approval", call: "c", deadline });

describe("push headers (pure)", () => {
  const now = 1_000_000;
  it.each([
    ["a turn end: a day, normal", [turnEnd], { ttl: 86_400, urgency: "normal" }],
    ["an approval due in 90.5 s: until its deadline, high", [approval(now + 90_500)], { ttl: 91, urgency: "high" }],
    ["an approval due in two days: a day", [approval(now + 2 * 86_400_000)], { ttl: 86_400, urgency: "high" }],
    ["an approval past its deadline: 0", [approval(now - 1)], { ttl: 0, urgency: "high" }],
    [
      "a burst ending in a turn end, with an approval in it: high, a day",
      [approval(now + 1000), { ...turnEnd, seq: 3 }],
      { ttl: 86_400, urgency: "high" },
    ],
  ] as const)("%s", (_name, members, expected) => {
    const last = members.at(-1)!;
    expect(pushHeaders({ session: "s1", urgency: pushUrgency(members), deadline: last.deadline }, now)).toEqual({
      ...expected,
      topic: pushTopic("s1"),
    });
  });

  it("the topic is 32 base64url characters for any session id", () => {
    expect(pushTopic("s1")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(pushTopic("x".repeat(128))).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(pushTopic("s1")).not.toBe(pushTopic("s2"));
  });
});

describe("WebPushChannel against the test kit's push service", () => {
  const vapid = { subject: "mailto:ops@example.com", ...webPush.generateVAPIDKeys() };
  const channel = (policy = resolveBackoff({ initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 })) =>
    new WebPushChannel({ vapid, allowedHosts: ["127.0.0.1"], agent: testTlsAgent(), policy });
  const record = (subscription: ReturnType<typeof createPushSubscription>) => ({
    ...subscription,
    id: pushSubscriptionId(subscription.endpoint),
    revision: 1,
    createdAt: 0,
    registeredAt: 0,
  });
  const headers = { ttl: 60, urgency: "high" as const, topic: pushTopic("s1") };

  it("encrypts for the subscription with VAPID; the service decrypts it and sees the headers", async () => {
    const push = await startPushService();
    onTestFinished(() => push.close());
    const subscription = createPushSubscription(push, { applicationServerKey: vapid.publicKey });
    const result = await channel().send(record(subscription), '{"title":"hi"}', headers, new AbortController().signal);
    expect(result).toEqual({ outcome: "sent", status: 201 });
    const delivery = await push.next();
    expect(delivery).toMatchObject({ json: { title: "hi" }, ttl: 60, urgency: "high", topic: headers.topic });
    expect(delivery.vapid).toMatchObject({ sub: "mailto:ops@example.com", publicKey: vapid.publicKey });
  });

  it("410 and 404 are gone (no retry)", async () => {
    const push = await startPushService();
    onTestFinished(() => push.close());
    const expired = createPushSubscription(push);
    push.expire(subscriptionIdOf(expired));
    const unknown = createPushSubscription(push);
    push.gone(subscriptionIdOf(unknown), 404);
    const signal = new AbortController().signal;
    expect(await channel().send(record(expired), "{}", headers, signal)).toEqual({ outcome: "gone", status: 410 });
    expect(await channel().send(record(unknown), "{}", headers, signal)).toEqual({ outcome: "gone", status: 404 });
    expect(push.rejected()).toHaveLength(2);
  });

  it("a refusal (VAPID key not the subscription's: 403) is not retried; a host outside the list is not contacted", async () => {
    const push = await startPushService();
    onTestFinished(() => push.close());
    const other = createPushSubscription(push, { applicationServerKey: webPush.generateVAPIDKeys().publicKey });
    const signal = new AbortController().signal;
    expect(await channel().send(record(other), "{}", headers, signal)).toMatchObject({
      outcome: "failed",
      reason: "refused",
      status: 403,
    });
    expect(push.rejected()).toHaveLength(1);
    const elsewhere = new WebPushChannel({ vapid, allowedHosts: ["fcm.googleapis.com"], agent: testTlsAgent() });
    expect(await elsewhere.send(record(createPushSubscription(push)), "{}", headers, signal)).toMatchObject({
      outcome: "failed",
      reason: "host_not_allowed",
    });
    expect(push.rejected()).toHaveLength(1);
  });

  it("network errors are tried maxAttempts times in all", async () => {
    const push = await startPushService();
    const subscription = createPushSubscription(push);
    await push.close();
    const result = await channel().send(record(subscription), "{}", headers, new AbortController().signal);
    expect(result).toMatchObject({ outcome: "failed", reason: "exhausted" });
  });
});
