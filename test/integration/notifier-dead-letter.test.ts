import { Kvm } from "@nats-io/kv";
import { DeadLetters } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { notifierRig, spawnNotifier } from "./support/notifier.ts";

// A backend that never takes the webhook: after the last try the claim is completed `dead` and a dead
// letter holds what was to be sent, for an operator to re-drive.
describe("notifier: dead letter", () => {
  it("always failing → dead-letter record after THREADLINE_WEBHOOK_MAX_ATTEMPTS tries", async () => {
    const rig = await notifierRig();
    const notifier = await spawnNotifier(rig, { THREADLINE_WEBHOOK_MAX_ATTEMPTS: "3" });
    await rig.userWrites("dead-1", "max");
    rig.hooks.failNext(1000, 500);
    const end = await rig.turnEnd("dead-1", "lost answer");
    const key = `n.${rig.epoch}.dead-1.${end.seq}.max.hook`;

    await rig.settled();
    expect(rig.hooks.attempts().map((a) => a.status)).toEqual([500, 500, 500]);
    expect(rig.hooks.received()).toEqual([]);
    expect(await rig.claim(key)).toMatchObject({
      status: "dead",
      detail: expect.stringContaining("exhausted after 3 tries"),
    });
    const letters = new DeadLetters(await new Kvm(rig.nc).open("threadline-notify"));
    expect(await letters.list()).toEqual([key]);
    expect(await letters.get(key)).toMatchObject({
      payload: { id: `n.${rig.epoch}.dead-1.${end.seq}.max`, body: "lost answer", user: "max" },
      url: rig.hooks.url,
      attempts: 3,
      lastStatus: 500,
      at: expect.any(Number),
    });
    expect(await notifier.metric("threadline_notifier_dead_letters_total")).toBe(1);
    expect(await notifier.metric("threadline_notifier_failed_total", { channel: "hook", reason: "exhausted" })).toBe(1);
    await notifier.stop();
  });
});
