import { afterAll, beforeAll, expect, onTestFailed, test } from "vitest";
import { type ChaosStack, startChaosStack } from "./support/chaos-stack.ts";
import { startLoad } from "./support/load.ts";
import { formatSummary, settle } from "./support/report.ts";
import { startViewers } from "./support/viewers.ts";

// Every NATS node is stopped at once (SIGTERM) and started again on the same
// ports and stores while agents publish and clients watch. Nothing is
// restarted or reconfigured by hand: agents retry their publishes (same
// event ids), gateways and presence replicas reconnect, live feeds re-sync,
// clients see every acknowledged event exactly once.

let stack: ChaosStack;
beforeAll(async () => {
  stack = await startChaosStack();
});
afterAll(async () => {
  await stack?.close();
});

test("whole-cluster restart: everything recovers by itself, 0 acknowledged events lost, 0 duplicates", async () => {
  onTestFailed(() => console.error(stack.logs()));
  const sessions = ["cr-1", "cr-2", "cr-3", "cr-4"];
  const agents = [await stack.agent(0), await stack.agent(1)];
  const load = startLoad(agents, sessions);
  const { direct, proxied, cluster } = stack;
  const viewers = await startViewers(
    sessions.flatMap((session) => [
      { session, urls: [direct.url], roaming: false },
      { session, urls: [proxied.url], roaming: false },
      { session, urls: [direct.url, proxied.url], roaming: true },
      { session, urls: [proxied.url, direct.url], roaming: true },
    ]),
  );
  try {
    await viewers.warmedUp(150);
    const stoppedAt = Date.now();
    await Promise.all(cluster.servers.map((s) => s.kill("SIGTERM")));
    const downMs = Date.now() - stoppedAt;
    const startedAt = Date.now();
    const publishing = load.recovered(startedAt, 90_000);
    const delivering = viewers.recovered(startedAt, 90_000);
    await Promise.all(cluster.servers.map((s) => s.restart()));
    await cluster.metaLeader();
    const restartMs = Date.now() - startedAt;
    const [publishMs, deliveryMs] = await Promise.all([publishing, delivering]);
    const summary = await settle("cluster-restart", agents[0]!, load, viewers, {
      stopMs: downMs,
      // Until every node reports /healthz ok (all its streams current) and the meta leader is back.
      restartMs,
      publishMs,
      deliveryMs,
    });
    console.log(formatSummary(summary));
    expect(summary.lostAcked).toBe(0);
    expect(summary.movedAcked).toBe(0);
    expect(summary.lost).toBe(0);
    expect(summary.duplicated).toBe(0);
    expect(summary.mismatchedViewers).toBe(0);
    expect(summary.acked).toBe(summary.published);
  } finally {
    await viewers.close();
  }
});
