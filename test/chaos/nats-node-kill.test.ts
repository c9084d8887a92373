import { expect, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { formatSummary, settle } from "./support/report.ts";
import { expectNoLoss, pinned, restartServing, roaming, useChaosStack, withTraffic } from "./support/scenario.ts";

// One NATS node — the stream's leader — is SIGKILLed under load and
// restarted: no acknowledged event is lost, viewers (on both gateways, some
// with random socket drops) apply every event exactly once, and publishing
// resumes within a bound.

const chaosStack = useChaosStack();

/** Publishing must resume within this bound after a node is killed (leader election + one publish timeout). */
const PUBLISH_RECOVERY_BOUND_MS = 15_000;
/**
 * Every viewer must see new events within this bound: a gateway that lost its NATS node or its live
 * consumer recreates the consumer (3 s of silence, then a try per second, each request given 2 s while the
 * cluster elects new leaders or the create lands on the dead node; test/chaos/README.md). Measured: 5–15 s.
 */
const DELIVERY_RECOVERY_BOUND_MS = 30_000;

test("SIGKILL of the stream leader, then restart: 0 acknowledged events lost, 0 duplicates", async () => {
  const stack = chaosStack();
  const { direct, proxied } = stack;
  const mix = [roaming(direct, proxied), roaming(proxied, direct), pinned(direct), pinned(proxied)];
  await withTraffic(
    stack,
    { sessions: ["nk-1", "nk-2", "nk-3", "nk-4"], viewers: mix },
    async ({ agents, load, viewers }) => {
      const info = await connectionOf(agents[0]!).jsm.streams.info(agents[0]!.info.stream);
      const leader = stack.cluster.servers.find((s) => s.name === info.cluster?.leader);
      expect(leader, `stream leader ${info.cluster?.leader}`).toBeDefined();
      const killedAt = Date.now();
      await leader!.kill("SIGKILL");
      const [publishMs, deliveryMs] = await Promise.all([load.recovered(killedAt), viewers.recovered(killedAt)]);
      const restartedAt = Date.now();
      // Serving is enough: load keeps flowing while the restarted node catches up (restartServing).
      const restarted = await restartServing([leader!]);
      await stack.cluster.metaLeader({ followers: "prefer" });
      const afterRestartMs = await viewers.recovered(restartedAt);
      const summary = await settle("nats-node-kill", agents[0]!, load, viewers, {
        publishMs,
        deliveryMs,
        afterRestartMs,
      });
      summary.recoveryMs.currentMs = await restarted.currentMs();
      console.log(formatSummary(summary));
      expectNoLoss(summary);
      expect(publishMs).toBeLessThan(PUBLISH_RECOVERY_BOUND_MS);
      expect(deliveryMs).toBeLessThan(DELIVERY_RECOVERY_BOUND_MS);
    },
  );
});
