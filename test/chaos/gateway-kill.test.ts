import { expect, test } from "vitest";
import { formatSummary, settle } from "./support/report.ts";
import { expectNoLoss, pinned, roaming, useChaosStack, withTraffic } from "./support/scenario.ts";

// A gateway process is SIGKILLed under load: its clients (configured with
// both gateways, as an app without a load balancer would be) reconnect to
// the other one and resume from their position with no loss and no
// duplicates, while other clients keep roaming with random socket drops.

const chaosStack = useChaosStack();

test("SIGKILL of a gateway: its clients resume on the other gateway with 0 loss", async () => {
  const stack = chaosStack();
  const { direct, proxied } = stack;
  // The pinned ones are served by the gateway that dies until it dies, then by the other one.
  const mix = [pinned(direct, proxied), pinned(direct, proxied), roaming(direct, proxied), roaming(proxied, direct)];
  await withTraffic(
    stack,
    { sessions: ["gk-1", "gk-2", "gk-3", "gk-4"], viewers: mix },
    async ({ agents, load, viewers }) => {
      const killedAt = Date.now();
      await direct.kill();
      const deliveryMs = await viewers.recovered(killedAt);
      const summary = await settle("gateway-kill", agents[0]!, load, viewers, { deliveryMs });
      console.log(formatSummary(summary));
      expectNoLoss(summary);
      // The pinned-to-direct viewers really moved: each opened a socket to the survivor.
      for (const v of viewers.list.filter((v) => !v.spec.roaming)) expect(v.net.opened).toBeGreaterThanOrEqual(2);
    },
  );
});
