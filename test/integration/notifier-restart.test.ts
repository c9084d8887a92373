import { jetstreamManager } from "@nats-io/jetstream";
import { waitFor } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { notifierRig, spawnNotifier } from "./support/notifier.ts";

// The notifier is SIGKILLed in the middle of a burst and started again: the durable consumer redelivers what
// was not acknowledged and the ledger (burst marks, claims) keeps what was decided, so no notification is
// lost and none is sent twice.
describe("notifier: killed mid-burst and restarted", () => {
  it("none lost, none duplicated: idempotency keys distinct and complete", async () => {
    const rig = await notifierRig();
    const env = { THREADLINE_NOTIFY_DELAY_MS: "1500" };
    const first = await spawnNotifier(rig, env);
    const users = ["pia", "quinn", "ray"];
    for (const user of users) {
      await rig.subscribe(user);
      await rig.userWrites(`kill-${user}`, user);
    }

    // pia's notification is delivered and completed before the kill: it must not come again.
    const done = await rig.turnEnd("kill-pia", "before");
    const doneId = `n.${rig.epoch}.kill-pia.${done.seq}.pia`;
    await rig.push.next((d) => (d.json as { id: string }).id === doneId, 10_000);
    await rig.hooks.next((d) => d.idempotencyKey === `${doneId}.hook`, 10_000);
    // complete() follows the delivery: no event reaches the test, the ledger says when
    for (const channel of ["push", "hook"]) {
      const key = `${doneId}.${channel}`;
      await waitFor(async () => (await rig.claim(key))?.status === "sent", {
        timeoutMs: 5000,
        message: `${key} not completed`,
      });
    }

    // quinn and ray: two triggers each, delivered to the notifier and waiting to be due, when it dies.
    for (const user of ["quinn", "ray"]) {
      for (const text of ["a", "b"]) await rig.turnEnd(`kill-${user}`, text);
    }
    const jsm = await jetstreamManager(rig.nc);
    await waitFor(
      async () => {
        const info = await jsm.consumers.info("THREADLINE", "threadline-notifier-out");
        return info.num_pending === 0 && info.num_ack_pending === 4;
      },
      { timeoutMs: 5000, message: "the four triggers were not all delivered to the notifier" },
    );
    await first.kill();
    // The burst goes on while no notifier runs.
    const last = { quinn: await rig.turnEnd("kill-quinn", "c"), ray: await rig.turnEnd("kill-ray", "c") };

    const second = await spawnNotifier(rig, env);
    for (const user of ["quinn", "ray"] as const) {
      const id = `n.${rig.epoch}.kill-${user}.${last[user].seq}.${user}`;
      const pushed = await rig.push.next((d) => (d.json as { id: string }).id === id, 15_000);
      expect(pushed.json).toMatchObject({ count: 3, user, position: { seq: last[user].seq } });
      await rig.hooks.next((d) => d.idempotencyKey === `${id}.hook`, 15_000);
    }
    await rig.settled();

    const keys = rig.hooks.received().map((d) => d.idempotencyKey);
    expect(keys.sort()).toEqual(
      [doneId, `n.${rig.epoch}.kill-quinn.${last.quinn.seq}.quinn`, `n.${rig.epoch}.kill-ray.${last.ray.seq}.ray`]
        .map((id) => `${id}.hook`)
        .sort(),
    );
    expect(rig.hooks.received().filter((d) => d.duplicate)).toEqual([]);
    expect(
      rig.push
        .received()
        .map((d) => (d.json as { id: string }).id)
        .sort(),
    ).toEqual(keys.map((k) => k.replace(/\.hook$/, "")).sort());
    await second.stop();
  });

  it("killed while retrying a webhook: the restarted notifier takes the claim over after its lease, same key", async () => {
    const rig = await notifierRig();
    const env = { THREADLINE_WEBHOOK_MAX_ATTEMPTS: "50", THREADLINE_WEBHOOK_BACKOFF_MS: "200" };
    const first = await spawnNotifier(rig, env);
    await rig.userWrites("kill-hook", "sal");
    rig.hooks.failNext(1000, 503);
    const end = await rig.turnEnd("kill-hook");
    const key = `n.${rig.epoch}.kill-hook.${end.seq}.sal.hook`;
    await waitFor(() => rig.hooks.attempts().length >= 2, { timeoutMs: 5000 });
    expect(await rig.claim(key)).toMatchObject({ status: "claimed", attempts: 1 });
    await first.kill();
    rig.hooks.failNext(0);

    const second = await spawnNotifier(rig, env);
    const hook = await rig.hooks.next(undefined, 15_000);
    expect(hook).toMatchObject({ idempotencyKey: key, duplicate: false });
    await rig.settled();
    expect(await rig.claim(key)).toMatchObject({ status: "sent", attempts: 2 }); // taken over once
    expect(new Set(rig.hooks.attempts().map((a) => a.idempotencyKey))).toEqual(new Set([key]));
    expect(rig.hooks.received()).toHaveLength(1);
    await second.stop();
  });
});
