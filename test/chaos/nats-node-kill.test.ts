import { afterAll, beforeAll, expect, onTestFailed, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { type ChaosStack, startChaosStack } from "./support/chaos-stack.ts";
import { startLoad } from "./support/load.ts";
import { formatSummary, settle } from "./support/report.ts";
import { startViewers } from "./support/viewers.ts";

// One NATS node — the stream's leader — is SIGKILLed under load and
// restarted: no acknowledged event is lost, viewers (on both gateways, some
// with random socket drops) apply every event exactly once, and publishing
// resumes within a bound.

let stack: ChaosStack;
beforeAll(async () => {
  stack = await startChaosStack();
});
afterAll(async () => {
  await stack?.close();
});

/** Publishing must resume within this bound after a node is killed (leader election + one publish timeout). */
const PUBLISH_RECOVERY_BOUND_MS = 15_000;
/**
 * Every viewer must see new events within this bound: a gateway that lost its NATS node or its live
 * consumer recreates the consumer (3 s of silence, then a try per second, each up to the 5 s JetStream
 * API timeout while the cluster elects new leaders).
 */
const DELIVERY_RECOVERY_BOUND_MS = 30_000;

test("SIGKILL of the stream leader, then restart: 0 acknowledged events lost, 0 duplicates", async () => {
  onTestFailed(() => console.error(stack.logs()));
  const sessions = ["nk-1", "nk-2", "nk-3", "nk-4"];
  const agents = [await stack.agent(0), await stack.agent(1)];
  const load = startLoad(agents, sessions);
  const { direct, proxied } = stack;
  const viewers = await startViewers(
    sessions.flatMap((session) => [
      { session, urls: [direct.url, proxied.url], roaming: true },
      { session, urls: [proxied.url, direct.url], roaming: true },
      { session, urls: [direct.url], roaming: false },
      { session, urls: [proxied.url], roaming: false },
    ]),
  );
  try {
    await viewers.warmedUp(150);
    const info = await connectionOf(agents[0]!).jsm.streams.info(agents[0]!.info.stream);
    const leader = stack.cluster.servers.find((s) => s.name === info.cluster?.leader);
    expect(leader, `stream leader ${info.cluster?.leader}`).toBeDefined();
    const killedAt = Date.now();
    await leader!.kill("SIGKILL");
    const [publishMs, deliveryMs] = await Promise.all([load.recovered(killedAt), viewers.recovered(killedAt)]);
    const restartedAt = Date.now();
    await leader!.restart();
    await stack.cluster.metaLeader();
    // Load keeps flowing while the restarted node catches up.
    const afterRestartMs = await viewers.recovered(restartedAt);
    const summary = await settle("nats-node-kill", agents[0]!, load, viewers, {
      publishMs,
      deliveryMs,
      afterRestartMs,
    });
    console.log(formatSummary(summary));
    expect(summary.lostAcked).toBe(0);
    expect(summary.movedAcked).toBe(0);
    expect(summary.lost).toBe(0);
    expect(summary.duplicated).toBe(0);
    expect(summary.mismatchedViewers).toBe(0);
    expect(summary.acked).toBe(summary.published);
    expect(publishMs).toBeLessThan(PUBLISH_RECOVERY_BOUND_MS);
    expect(deliveryMs).toBeLessThan(DELIVERY_RECOVERY_BOUND_MS);
  } finally {
    await viewers.close();
  }
});
