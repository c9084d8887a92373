import { connectAgent } from "@threadline/agent";
import { createClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, it } from "vitest";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { useGatewayProcesses } from "./support/gateway-process.ts";
import { mintToken } from "./support/tokens.ts";

// A client stops reading while an agent streams ~60 MB into its session. The
// gateway must not buffer that for it: its memory stays bounded (the socket
// falls off the live feed), and when the client reads again it catches up
// from the stream with nothing lost.

// The stall lasts as long as the machine needs to publish ~60 MB, which under
// CI load can pass the 10 s idle timeout (uWS pings the paused socket, which
// cannot answer) and the client's 20 s ping: both are raised past the
// test's bound so that the one socket under test is the one that stalled.
// The recent-events cache fills with the stream up to its own bound (64 MiB by default), which this
// test would count as the stalled socket's; a small one keeps it in the path without hiding that.
const stack = useGatewayProcesses({
  THREADLINE_SLOW_TIMEOUT_MS: "120000",
  THREADLINE_LIMIT_IDLE_TIMEOUT_SECONDS: "180",
  THREADLINE_CACHE_BYTES: String(4 * 1024 * 1024),
});

it("keeps gateway memory bounded for a stalled socket and catches it up losslessly", async () => {
  const {
    nats,
    gateways: [gateway],
  } = stack;
  const agent = await connectAgent({ servers: nats.url, id: "firehose" });
  const session = "slow";
  const total = 9000;
  const pad = "z".repeat(10_000);
  const slowNet = controlledWebSocket();
  const slowSeqs: number[] = [];
  const fastSeqs: number[] = [];
  const slow = createClient({
    url: gateway.url,
    token: () => mintToken({ sub: "slow" }),
    WebSocket: slowNet.WebSocket as never,
    pingIntervalMs: 180_000,
  });
  const fastNet = controlledWebSocket();
  const fast = createClient({
    url: gateway.url,
    token: () => mintToken({ sub: "fast" }),
    WebSocket: fastNet.WebSocket as never,
  });
  try {
    (await slow.attach(session, { from: "start" })).onEvent((r) => slowSeqs.push(r.seq));
    (await fast.attach(session, { from: "start" })).onEvent((r) => fastSeqs.push(r.seq));
    // Warm-up with both sockets reading, so the heap reaches its working size before measuring.
    const warmup = 3000;
    for (let i = 0; i < warmup; i++) await agent.publish(session, { type: "note", data: { i, pad } });
    await waitFor(() => fastSeqs.length >= warmup && slowSeqs.length >= warmup, { timeoutMs: 30_000 });
    const baseline = gateway.rss();
    slowNet.pause();
    let peak = baseline;
    for (let i = warmup; i < total; i++) {
      await agent.publish(session, { type: "note", data: { i, pad } });
      if (i % 200 === 0) peak = Math.max(peak, gateway.rss());
    }
    await waitFor(() => fastSeqs.length >= total, { timeoutMs: 30_000 });
    peak = Math.max(peak, gateway.rss());
    // ~60 MB went through while the slow socket read nothing; the gateway held far less than that…
    expect(peak - baseline).toBeLessThan(25 * 1024 * 1024);
    expect(slowSeqs.length).toBeLessThan(total);
    // …because the socket was taken off the live feed instead of being buffered for.
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
    expect(Number(/^threadline_gateway_slow_fallbacks_total (\d+)/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    slowNet.resume();
    await waitFor(() => slowSeqs.length >= total, {
      timeoutMs: 60_000,
      message: `slow client has ${slowSeqs.length}/${total}`,
    });
    const expected: number[] = [];
    for await (const r of agent.history(session)) expected.push(r.seq);
    expect(slowSeqs).toEqual(expected);
    expect(fastSeqs).toEqual(expected);
    expect(slowNet.opened).toBe(1);
  } finally {
    await Promise.all([slow.close(), fast.close()]);
    await agent.close();
  }
}, 120_000);
