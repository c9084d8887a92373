import { Kvm } from "@nats-io/kv";
import { PushSubscriptions, pushSubscriptionId } from "@threadline/store";
import { subscriptionIdOf } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { notifierRig, spawnNotifier } from "./support/notifier.ts";

// A browser that unsubscribed (or a push service that forgot it): 410 Gone → the subscription is removed;
// the user's other devices still get the notification.
describe("notifier: expired subscription", () => {
  it("410 → removed from the push bucket, counted; the other device is notified", async () => {
    const rig = await notifierRig();
    const notifier = await spawnNotifier(rig);
    const expired = await rig.subscribe("jo");
    const alive = await rig.subscribe("jo");
    rig.push.expire(subscriptionIdOf(expired));
    await rig.userWrites("gone-1", "jo");
    const end = await rig.turnEnd("gone-1");

    const pushed = await rig.push.next(undefined, 10_000);
    expect(pushed.subscriptionId).toBe(subscriptionIdOf(alive));
    expect(pushed.json).toMatchObject({ position: { seq: end.seq } });
    await rig.settled();
    const subscriptions = new PushSubscriptions(await new Kvm(rig.nc).open("threadline-push"));
    expect((await subscriptions.list("jo")).map((s) => s.id)).toEqual([pushSubscriptionId(alive.endpoint)]);
    expect(rig.push.rejected(subscriptionIdOf(expired))).toEqual([expect.objectContaining({ status: 410 })]);
    expect(await notifier.metric("threadline_notifier_subscriptions_removed_total")).toBe(1);
    expect(await notifier.metric("threadline_notifier_failed_total", { channel: "push", reason: "gone" })).toBe(1);
    expect(await notifier.metric("threadline_notifier_sent_total", { channel: "push" })).toBe(1);

    // The next trigger goes to the remaining device only.
    await rig.turnEnd("gone-1", "again");
    await rig.push.next(undefined, 10_000);
    await rig.settled();
    expect(rig.push.rejected(subscriptionIdOf(expired))).toHaveLength(1);
    await notifier.stop();
  });
});
