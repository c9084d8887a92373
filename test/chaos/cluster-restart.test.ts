import { test } from "vitest";
import { formatSummary, settle } from "./support/report.ts";
import { expectNoLoss, pinned, restartServing, roaming, useChaosStack, withTraffic } from "./support/scenario.ts";

// Every NATS node is stopped at once (SIGTERM) and started again on the same
// ports and stores while agents publish and clients watch. Nothing is
// restarted or reconfigured by hand: agents retry their publishes (same
// event ids), gateways and presence replicas reconnect, live feeds re-sync,
// clients see every acknowledged event exactly once.

const chaosStack = useChaosStack();

test("whole-cluster restart: everything recovers by itself, 0 acknowledged events lost, 0 duplicates", async () => {
  const stack = chaosStack();
  const { direct, proxied, cluster } = stack;
  const mix = [pinned(direct), pinned(proxied), roaming(direct, proxied), roaming(proxied, direct)];
  await withTraffic(
    stack,
    { sessions: ["cr-1", "cr-2", "cr-3", "cr-4"], viewers: mix },
    async ({ agents, load, viewers }) => {
      const stoppedAt = Date.now();
      await Promise.all(cluster.servers.map((s) => s.kill("SIGTERM")));
      const downMs = Date.now() - stoppedAt;
      const startedAt = Date.now();
      const publishing = load.recovered(startedAt, 90_000);
      const delivering = viewers.recovered(startedAt, 90_000);
      const restarted = await restartServing(cluster.servers);
      await cluster.metaLeader({ followers: "prefer" });
      const restartMs = Date.now() - startedAt;
      const [publishMs, deliveryMs] = await Promise.all([publishing, delivering]);
      const summary = await settle("cluster-restart", agents[0]!, load, viewers, {
        stopMs: downMs,
        // Until every node serves again and they agree on a meta leader (restartServing).
        restartMs,
        publishMs,
        deliveryMs,
      });
      // Until every node reported /healthz ok (all its streams current); -1: not within 15 s more.
      summary.recoveryMs.currentMs = await restarted.currentMs();
      console.log(formatSummary(summary));
      expectNoLoss(summary);
    },
  );
});
