import { afterAll, beforeAll, expect, onTestFailed, test } from "vitest";
import { type ChaosStack, startChaosStack } from "./support/chaos-stack.ts";
import { startLoad } from "./support/load.ts";
import { formatSummary, settle } from "./support/report.ts";
import { startViewers } from "./support/viewers.ts";

// A gateway process is SIGKILLed under load: its clients (configured with
// both gateways, as an app without a load balancer would be) reconnect to
// the other one and resume from their position with no loss and no
// duplicates, while other clients keep roaming with random socket drops.

let stack: ChaosStack;
beforeAll(async () => {
  stack = await startChaosStack();
});
afterAll(async () => {
  await stack?.close();
});

test("SIGKILL of a gateway: its clients resume on the other gateway with 0 loss", async () => {
  onTestFailed(() => console.error(stack.logs()));
  const sessions = ["gk-1", "gk-2", "gk-3", "gk-4"];
  const agents = [await stack.agent(0), await stack.agent(1)];
  const load = startLoad(agents, sessions);
  const { direct, proxied } = stack;
  const viewers = await startViewers(
    sessions.flatMap((session) => [
      // Served by the gateway that dies until it dies, then by the other one.
      { session, urls: [direct.url, proxied.url], roaming: false },
      { session, urls: [direct.url, proxied.url], roaming: false },
      { session, urls: [direct.url, proxied.url], roaming: true },
      { session, urls: [proxied.url, direct.url], roaming: true },
    ]),
  );
  try {
    await viewers.warmedUp(150);
    const killedAt = Date.now();
    await direct.kill();
    const deliveryMs = await viewers.recovered(killedAt);
    const summary = await settle("gateway-kill", agents[0]!, load, viewers, { deliveryMs });
    console.log(formatSummary(summary));
    expect(summary.lostAcked).toBe(0);
    expect(summary.movedAcked).toBe(0);
    expect(summary.lost).toBe(0);
    expect(summary.duplicated).toBe(0);
    expect(summary.mismatchedViewers).toBe(0);
    expect(summary.acked).toBe(summary.published);
    // The pinned-to-direct viewers really moved: each opened a socket to the survivor.
    for (const v of viewers.list.filter((v) => !v.spec.roaming)) expect(v.net.opened).toBeGreaterThanOrEqual(2);
  } finally {
    await viewers.close();
  }
});
