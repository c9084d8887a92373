import { subscriptionIdOf, verifyWebhookSignature } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { notifierRig, pushTopicOf, startNotifier, WEBHOOK_SECRET } from "./support/notifier.ts";

// The user closed the tab: every trigger reaches them exactly once on each channel — Web Push (decrypted
// with the subscription's keys by the test kit's push service) and the signed webhook.
describe("notifier: user away", () => {
  it("one notification per trigger on each channel, with the contract's payload", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig);
    const subscription = await rig.subscribe("ann");
    const call = async (session: string, type: "approval.request" | "tool.call", data: Record<string, unknown>) => {
      const turn = `t-${session}`;
      const callId = `c-${session}`;
      const deadline = Date.now() + 600_000;
      await rig.control.createCall(session, callId, {
        kind: type === "tool.call" ? "tool" : "approval",
        turn,
        status: "pending",
        deadline,
      });
      return rig.agent.publish(session, {
        type,
        turn,
        ref: callId,
        data: { call: callId, timeoutMs: 600_000, ...data },
      });
    };

    // Four sessions, one trigger kind each (so nothing collapses); ann wrote to each before.
    for (const s of ["away-end", "away-approval", "away-tool", "away-operator"]) await rig.userWrites(s, "ann");
    const end = await rig.turnEnd("away-end", "Your order ships on Monday.");
    const approval = await call("away-approval", "approval.request", { action: "Refund 20 EUR", approvers: ["user"] });
    const tool = await call("away-tool", "tool.call", { name: "geolocation", args: {} });
    const operator = await rig.operatorWrites("away-operator", "op1", "Hi Ann, I'm Sam from support.");

    const expected = [
      {
        session: "away-end",
        seq: end.seq,
        kind: "turn.end",
        title: "Your answer is ready",
        body: "Your order ships on Monday.",
        urgency: "normal",
      },
      {
        session: "away-approval",
        seq: approval.seq,
        kind: "approval",
        title: "Approval needed",
        body: "Refund 20 EUR",
        urgency: "high",
      },
      {
        session: "away-tool",
        seq: tool.seq,
        kind: "tool.call",
        title: "Your device is needed",
        body: "geolocation",
        urgency: "high",
      },
      {
        session: "away-operator",
        seq: operator,
        kind: "operator.message",
        title: "New message from support",
        body: "Hi Ann, I'm Sam from support.",
        urgency: "normal",
      },
    ];
    for (const e of expected) {
      const id = `n.${rig.epoch}.${e.session}.${e.seq}.ann`;
      const pushed = await rig.push.next((d) => (d.json as { id?: string })?.id === id, 10_000);
      expect(pushed.json).toMatchObject({
        v: 1,
        type: "threadline.notification",
        id,
        kind: e.kind,
        session: e.session,
        user: "ann",
        position: { epoch: rig.epoch, seq: e.seq },
        count: 1,
        title: e.title,
        body: e.body,
        url: `https://shop.example/chat/${e.session}`,
      });
      expect(pushed.subscriptionId).toBe(subscriptionIdOf(subscription));
      expect(pushed).toMatchObject({ urgency: e.urgency, topic: pushTopicOf(e.session) });
      expect(pushed.ttl).toBeGreaterThan(e.urgency === "high" ? 500 : 86_000);
      expect(Buffer.byteLength(pushed.payload ?? "")).toBeLessThanOrEqual(3072);

      const hook = await rig.hooks.next((d) => d.idempotencyKey === `${id}.hook`, 10_000);
      expect(hook.body).toEqual(pushed.json);
      expect(
        verifyWebhookSignature(hook.headers["threadline-signature"], Buffer.from(hook.rawBody), [WEBHOOK_SECRET]),
      ).toBeUndefined();
      expect((hook.body as { ts: number }).ts).toBeLessThanOrEqual(hook.receivedAt.getTime());
    }

    // Exactly once: every trigger handled and acknowledged, and nothing more arrived.
    await rig.settled();
    expect(rig.push.received()).toHaveLength(4);
    expect(rig.hooks.received()).toHaveLength(4);
    expect(rig.hooks.received().filter((d) => d.duplicate)).toEqual([]);
    expect(log.events.filter((o) => o.outcome === "sent")).toHaveLength(4);
    for (const e of expected) {
      const id = `n.${rig.epoch}.${e.session}.${e.seq}.ann`;
      expect(await rig.claim(`${id}.push`)).toMatchObject({ status: "sent", attempts: 1 });
      expect(await rig.claim(`${id}.hook`)).toMatchObject({ status: "sent", attempts: 1 });
    }
  });
});
