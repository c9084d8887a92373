import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// The application's backend fails twice (503), then takes it: delivered once, with retries, the same
// idempotency key on every try.
describe("notifier: webhook retries", () => {
  it("503 twice then 200 → delivered once", async () => {
    const rig = await notifierRig();
    const { notifier } = await startNotifier(rig);
    await rig.userWrites("hook-retry", "kim");
    rig.hooks.failNext(2, 503);
    const end = await rig.turnEnd("hook-retry");
    const key = `n.${rig.epoch}.hook-retry.${end.seq}.kim.hook`;

    const hook = await rig.hooks.next(undefined, 10_000);
    expect(hook.idempotencyKey).toBe(key);
    expect(hook.duplicate).toBe(false);
    await rig.settled();
    expect(rig.hooks.attempts().map((a) => [a.status, a.idempotencyKey])).toEqual([
      [503, key],
      [503, key],
      [200, key],
    ]);
    expect(rig.hooks.received()).toHaveLength(1);
    expect(await rig.claim(key)).toMatchObject({ status: "sent" });
    // kim has no push subscription: only the webhook was claimed
    expect(await rig.claim(`n.${rig.epoch}.hook-retry.${end.seq}.kim.push`)).toBeUndefined();
    expect((await notifier.metrics.registry.getSingleMetric("threadline_notifier_sent_total")?.get())?.values).toEqual([
      expect.objectContaining({ labels: { channel: "hook" }, value: 1 }),
    ]);
  });

  it("429 with Retry-After is honoured", async () => {
    const rig = await notifierRig();
    await startNotifier(rig);
    await rig.userWrites("hook-429", "lee");
    rig.hooks.failNext(1, 429, { "retry-after": "1" });
    await rig.turnEnd("hook-429");
    await rig.hooks.next(undefined, 10_000);
    const [refused, accepted] = rig.hooks.attempts();
    expect(refused?.status).toBe(429);
    expect(accepted!.receivedAt.getTime() - refused!.receivedAt.getTime()).toBeGreaterThanOrEqual(950);
  });
});
