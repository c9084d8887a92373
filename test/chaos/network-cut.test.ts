import { waitFor } from "@threadline/test-kit";
import { expect, test } from "vitest";
import { formatSummary, settle } from "./support/report.ts";
import { expectNoLoss, pinned, roaming, useChaosStack, withTraffic } from "./support/scenario.ts";

// The network between one gateway and NATS breaks (the test kit's TCP proxy
// sits on every route from that gateway to the cluster): either every
// connection is reset and new ones refused (`drop`), or connections stay up
// but no byte moves (`stall`: a black hole TCP does not notice). Clients of
// that gateway stay on it (pinned) or roam; when the network comes back the
// gateway's live feed re-syncs from the stream and no client misses an event.

const chaosStack = useChaosStack();

/** How long the network stays broken. Longer than the live feed's heartbeat detection (2 × 1 s). */
const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_MS ?? 4_000);

/** `threadline_gateway_live_resyncs_total` of a gateway process, all reasons, from its /metrics. */
async function liveResyncs(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("threadline_gateway_live_resyncs_total"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

async function cutScenario(mode: "drop" | "stall", sessions: string[]) {
  const stack = chaosStack();
  const { direct, proxied, proxies } = stack;
  const mix = [pinned(proxied), pinned(proxied), roaming(proxied, direct), roaming(direct, proxied)];
  await withTraffic(stack, { sessions, agentIndexes: [0, 2], viewers: mix }, async ({ agents, load, viewers }) => {
    const resyncsBefore = await liveResyncs(proxied.port);
    for (const p of proxies) p[mode]();
    // Agents (connected directly) keep publishing during the outage: the events wait in the stream.
    const acksBefore = load.acked();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const publishedDuringOutage = load.acked() - acksBefore;
    const healedAt = Date.now();
    for (const p of proxies) p.resume();
    const deliveryMs = await viewers.recovered(healedAt);
    // The cut gateway's live feed re-syncs after the reconnect; its first JetStream API requests may time out
    // while the link settles (seen on 2.10), then the watchdog retries it every heartbeat.
    const resyncs = await waitFor(async () => (await liveResyncs(proxied.port)) - resyncsBefore, {
      timeoutMs: 20_000,
      message: "the cut gateway's live feed did not re-sync after the heal",
    }).catch(() => 0);
    const summary = await settle(`network-${mode}`, agents[0]!, load, viewers, { outageMs: OUTAGE_MS, deliveryMs });
    summary.extra.ackedDuringOutage = publishedDuringOutage;
    summary.extra.proxyResets = proxies.reduce((n, p) => n + p.stats().reset, 0);
    summary.extra.gatewayLiveResyncs = resyncs;
    console.log(formatSummary(summary));
    expect(publishedDuringOutage).toBeGreaterThan(0);
    // The cut gateway's live feed really re-synced (after the reconnect, or after the silence of a stall).
    expect(resyncs).toBeGreaterThan(0);
    expectNoLoss(summary);
  });
}

test("drop: every connection of one gateway to NATS reset and refused, then healed: clients see no loss", async () => {
  await cutScenario("drop", ["nd-1", "nd-2", "nd-3"]);
});

test("stall: one gateway's NATS connections turn into a black hole, then heal: clients see no loss", async () => {
  await cutScenario("stall", ["ns-1", "ns-2", "ns-3"]);
});
