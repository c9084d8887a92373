import { waitFor } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { notifierRig, spawnNotifier } from "./support/notifier.ts";

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
});
