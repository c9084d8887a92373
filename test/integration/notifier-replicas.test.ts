import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// Two replicas share the durables and the ledger: every notification is delivered once, whichever replica
// handles which trigger of a burst.
describe("notifier: two replicas", () => {
  it("no duplicates: one notification per session burst, one claim per channel", async () => {
    const rig = await notifierRig();
    const env = { THREADLINE_NOTIFY_DELAY_MS: "2000", THREADLINE_NOTIFY_CONCURRENCY: "4" };
    const a = await startNotifier(rig, { ...env, THREADLINE_NOTIFIER_ID: "replica-a" });
    const b = await startNotifier(rig, { ...env, THREADLINE_NOTIFIER_ID: "replica-b" });
    const sessions = Array.from({ length: 8 }, (_, i) => `replicas-${i}`);
    for (const [i, s] of sessions.entries()) {
      const user = `u${i % 3}`; // users share sessions' rate windows: keep below the default limit (6)
      if (i < 3) await rig.subscribe(user);
      await rig.userWrites(s, user);
    }
    const last = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (const s of sessions) last.set(s, (await rig.turnEnd(s, `${s} #${round}`)).seq);
    }

    for (let i = 0; i < sessions.length; i++) await rig.push.next(undefined, 15_000);
    await rig.settled();
    const pushed = rig.push
      .received()
      .map((d) => d.json as { session: string; count: number; position: { seq: number } });
    expect(pushed.map((p) => p.session).sort()).toEqual([...sessions].sort());
    for (const p of pushed) expect(p).toMatchObject({ count: 3, position: { seq: last.get(p.session) } });
    expect(
      rig.hooks
        .received()
        .map((d) => d.idempotencyKey)
        .sort(),
    ).toEqual(sessions.map((s, i) => `n.${rig.epoch}.${s}.${last.get(s)}.u${i % 3}.hook`).sort());
    expect(rig.hooks.received().filter((d) => d.duplicate)).toEqual([]);
    const sent = [...a.log.events, ...b.log.events].filter((o) => o.outcome === "sent");
    expect(sent).toHaveLength(sessions.length);
    // both replicas took part
    expect(a.log.events.length).toBeGreaterThan(0);
    expect(b.log.events.length).toBeGreaterThan(0);
  });
});
