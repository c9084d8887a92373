import { Kvm } from "@nats-io/kv";
import { defaultNotificationPrefs, NotificationPreferences } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// A user's choices (PushSubscriptions' neighbour `<user>._prefs`) are read when a trigger is due.
describe("notifier: preferences", () => {
  it("a muted session, a type turned off, and muting everything are respected; the rest is notified", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig);
    const prefs = new NotificationPreferences(await new Kvm(rig.nc).open("threadline-push"));
    await rig.subscribe("ned");
    for (const s of ["prefs-muted", "prefs-open"]) await rig.userWrites(s, "ned");
    await prefs.set(
      "ned",
      {
        ...defaultNotificationPrefs(),
        mutedSessions: ["prefs-muted"],
        events: { ...defaultNotificationPrefs().events, "turn.end": false },
      },
      0,
    );

    const inMuted = await rig.operatorWrites("prefs-muted", "op1", "hello?");
    const offType = await rig.turnEnd("prefs-open", "done");
    const wanted = await rig.operatorWrites("prefs-open", "op1", "Your refund was approved.");
    const pushed = await rig.push.next(undefined, 10_000);
    expect(pushed.json).toMatchObject({ kind: "operator.message", position: { seq: wanted }, count: 1 });
    await rig.settled();
    for (const seq of [inMuted, offType.seq]) {
      expect(await log.next((o) => o.seq === seq && o.user === "ned")).toMatchObject({
        outcome: "skipped",
        reason: "muted",
      });
    }
    expect(rig.push.received()).toHaveLength(1);
    expect(rig.hooks.received()).toHaveLength(1);

    // Muting everything: nothing, on any channel.
    await prefs.update("ned", (p) => ({ ...p, muted: true }));
    const silenced = await rig.operatorWrites("prefs-open", "op1", "Anything else?");
    expect(await log.next((o) => o.seq === silenced && o.user === "ned")).toMatchObject({ reason: "muted" });
    await rig.settled();
    expect(rig.push.received()).toHaveLength(1);
    expect(rig.hooks.received()).toHaveLength(1);
  });
});
