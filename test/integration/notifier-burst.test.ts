import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// Three turn ends within the delay: one notification that stands for all three (count 3), at the last one's
// position; the first two collapse into it.
describe("notifier: burst", () => {
  it("three turn ends → one notification with count 3", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig, { THREADLINE_NOTIFY_DELAY_MS: "1500" });
    await rig.subscribe("bea");
    await rig.userWrites("burst-1", "bea");
    const ends = [];
    for (const text of ["one", "two", "three"]) ends.push(await rig.turnEnd("burst-1", text));
    const last = ends[2]!;

    const pushed = await rig.push.next(undefined, 10_000);
    expect(pushed.json).toMatchObject({
      id: `n.${rig.epoch}.burst-1.${last.seq}.bea`,
      kind: "turn.end",
      count: 3,
      title: "3 updates in your conversation",
      body: "Your answer is ready",
      position: { epoch: rig.epoch, seq: last.seq, id: last.id },
    });
    const hook = await rig.hooks.next(undefined, 10_000);
    expect(hook.idempotencyKey).toBe(`n.${rig.epoch}.burst-1.${last.seq}.bea.hook`);

    await rig.settled();
    expect(rig.push.received()).toHaveLength(1);
    expect(rig.hooks.received()).toHaveLength(1);
    const forBea = log.events.filter((o) => o.user === "bea");
    const collapsed = forBea.filter((o) => o.outcome === "collapsed").map((o) => o.seq);
    expect(collapsed.sort((a, b) => a - b)).toEqual([ends[0]!.seq, ends[1]!.seq]);
    expect(forBea.filter((o) => o.outcome === "sent")).toEqual([
      { session: "burst-1", seq: last.seq, user: "bea", outcome: "sent", count: 3 },
    ]);
  });

  it("a burst is cut after THREADLINE_NOTIFY_COLLAPSE_MAX_MS: an endless stream still notifies, nothing counted twice", async () => {
    const rig = await notifierRig();
    // Every trigger is due 1.5 s after it was stored; a burst lasts at most 1 s from its first trigger.
    const { log } = await startNotifier(rig, {
      THREADLINE_NOTIFY_DELAY_MS: "1500",
      THREADLINE_NOTIFY_COLLAPSE_MAX_MS: "1000",
    });
    await rig.subscribe("cy");
    await rig.userWrites("burst-2", "cy");
    // The scenario: a turn end every 300 ms for 1.2 s — longer than one burst may last.
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) await sleep(300);
      seqs.push((await rig.turnEnd("burst-2", `n${i}`)).seq);
    }
    await rig.settled();
    const sent = log.events.filter((o) => o.outcome === "sent");
    expect(sent.length).toBeGreaterThanOrEqual(2);
    // Every trigger is in exactly one notification.
    expect(sent.reduce((n, o) => n + (o.count ?? 0), 0)).toBe(seqs.length);
    expect(rig.push.received()).toHaveLength(sent.length);
    expect(rig.push.received().map((d) => (d.json as { count: number }).count)).toEqual(sent.map((o) => o.count));
  });
});
