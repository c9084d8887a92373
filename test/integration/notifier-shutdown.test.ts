import { waitFor } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { notifierRig, spawnNotifier, startNotifier } from "./support/notifier.ts";

// SIGTERM: stop pulling, finish what is under way, exit 0 — without waiting out a webhook's backoff. What
// was not finished is left to the claim's lease and the durable's redelivery: the next process delivers it.
describe("notifier: graceful shutdown", () => {
  it("SIGTERM between webhook retries → exit 0 at once; the next notifier delivers it", async () => {
    const rig = await notifierRig();
    const env = { THREADLINE_WEBHOOK_BACKOFF_MS: "30000", THREADLINE_WEBHOOK_BACKOFF_MAX_MS: "30000" };
    const first = await spawnNotifier(rig, env);
    const health = await fetch(`http://127.0.0.1:${first.httpPort}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, "ok"]);
    await rig.userWrites("shutdown-1", "uma");
    rig.hooks.failNext(1, 503);
    const end = await rig.turnEnd("shutdown-1");
    const key = `n.${rig.epoch}.shutdown-1.${end.seq}.uma.hook`;
    // The first try was refused (a refusal is no delivery: no event): the notifier now waits 30 s to retry.
    await waitFor(() => rig.hooks.attempts().length === 1, { timeoutMs: 10_000 });

    const stopping = Date.now();
    await first.stop();
    expect(first.exitCode()).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(await rig.claim(key)).toMatchObject({ status: "claimed" }); // left to its lease

    await spawnNotifier(rig, env);
    const hook = await rig.hooks.next(undefined, 15_000);
    expect(hook).toMatchObject({ idempotencyKey: key, duplicate: false });
    await rig.settled();
    expect(await rig.claim(key)).toMatchObject({ status: "sent" });
  });

  it("closed right after it started (its consumers still opening) → close() returns", async () => {
    const rig = await notifierRig();
    for (let round = 0; round < 3; round++) {
      const { close } = await startNotifier(rig);
      // The consumers' loops are inside their first open (a JetStream request) at this point.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise((resolve) => {
        timer = setTimeout(resolve, 10_000, "still closing after 10 s");
      });
      expect(await Promise.race([close().then(() => "closed"), late])).toBe("closed");
      clearTimeout(timer);
    }
  });

  it("a webhook that never answers: SIGTERM exits 0 once the drain is over, naming the handling; the next notifier delivers it", async () => {
    const rig = await notifierRig();
    const env = { THREADLINE_WEBHOOK_TIMEOUT_MS: "120000", THREADLINE_NOTIFY_DRAIN_MS: "1000" };
    const first = await spawnNotifier(rig, env);
    await rig.userWrites("shutdown-2", "uma");
    rig.hooks.holdNext(1);
    const end = await rig.turnEnd("shutdown-2");
    const key = `n.${rig.epoch}.shutdown-2.${end.seq}.uma.hook`;
    await waitFor(() => rig.hooks.attempts().some((a) => a.reason === "held" && a.idempotencyKey === key), {
      timeoutMs: 10_000,
      message: "the webhook was not called",
    });

    const stopping = Date.now();
    await first.stop();
    expect(first.exitCode()).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000); // not the webhook's 120 s timeout
    const warning = first
      .log()
      .split("\n")
      .find((line) => line.includes("stopped with handlings still running"));
    expect(warning, first.log()).toBeDefined();
    expect(JSON.parse(warning!).handlings).toEqual([
      expect.objectContaining({
        seq: end.seq,
        subject: expect.stringContaining("shutdown-2"),
        deliveryCount: 2,
        step: "deliver uma",
      }),
    ]);

    await spawnNotifier(rig, env);
    const hook = await rig.hooks.next((d) => d.idempotencyKey === key, 20_000);
    expect(hook.duplicate).toBe(false);
    await rig.settled();
    expect(await rig.claim(key)).toMatchObject({ status: "sent" });
  });
});
