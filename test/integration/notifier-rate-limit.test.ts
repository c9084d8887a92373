import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// Per-user rate limit across sessions: over the limit a notification waits for the next window (it is never
// dropped), and is then delivered.
describe("notifier: per-user rate limit", () => {
  it("one per window: the others are deferred to later windows, then delivered", async () => {
    const rig = await notifierRig();
    const windowMs = 1000;
    const { log } = await startNotifier(rig, {
      THREADLINE_NOTIFY_USER_RATE: "1",
      THREADLINE_NOTIFY_USER_RATE_WINDOW_MS: String(windowMs),
    });
    await rig.subscribe("ida");
    // Three sessions (nothing collapses across sessions), all due within a few ms: at least two of them
    // fall in one window, so at least one is deferred.
    const sessions = ["rate-1", "rate-2", "rate-3"];
    for (const s of sessions) await rig.userWrites(s, "ida");
    const seqs = [];
    for (const s of sessions) seqs.push((await rig.turnEnd(s, s)).seq);

    const deliveries = [];
    for (let i = 0; i < 3; i++) deliveries.push(await rig.push.next(undefined, 10_000));
    await rig.settled();
    expect(log.events.filter((o) => o.outcome === "deferred").length).toBeGreaterThanOrEqual(1);
    expect(
      log.events
        .filter((o) => o.outcome === "sent")
        .map((o) => o.seq)
        .sort(),
    ).toEqual(seqs.sort());
    expect(deliveries.map((d) => (d.json as { session: string }).session).sort()).toEqual(sessions);
    // Three notifications at one per window span at least two window boundaries.
    const times = deliveries.map((d) => d.receivedAt.getTime());
    expect(times[2]! - times[0]!).toBeGreaterThan(windowMs - 100);
    expect(rig.push.received()).toHaveLength(3);
    expect(rig.hooks.received()).toHaveLength(3);
  });
});
