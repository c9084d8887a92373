import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// A refresh or a tab switch: the device is away when the trigger is stored and back before it is due.
describe("notifier: refresh within the delay", () => {
  it("away when first seen, present again when due → none; away for good → notified", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig, { THREADLINE_NOTIFY_DELAY_MS: "1000" });
    await rig.subscribe("hal");
    await rig.userWrites("refresh-1", "hal");

    const first = await rig.turnEnd("refresh-1", "first");
    await log.next((o) => o.seq === first.seq && o.outcome === "waiting"); // seen while hal is away
    const leave = await rig.present("refresh-1", "hal"); // the page reloaded
    expect(await log.next((o) => o.seq === first.seq && o.user === "hal")).toMatchObject({
      outcome: "skipped",
      reason: "present",
    });
    await leave();

    const second = await rig.turnEnd("refresh-1", "second");
    const pushed = await rig.push.next(undefined, 10_000);
    // Only the trigger hal missed: the first one was seen (the burst mark moved past it).
    expect(pushed.json).toMatchObject({ position: { seq: second.seq }, count: 1, body: "second" });
    await rig.settled();
    expect(rig.push.received()).toHaveLength(1);
  });
});
