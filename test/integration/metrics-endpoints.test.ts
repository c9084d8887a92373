import { Kvm } from "@nats-io/kv";
import { createClient } from "@threadline/client";
import { presenceKey } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { startPresence } from "./support/presence.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { startStack } from "./support/stack.ts";

// Scrapes GET /metrics of a real gateway and a real presence service and checks that
// the metrics exist and move when the thing they count happens.
const stack = await startStack({ gatewayEnv: { THREADLINE_LIMIT_MAX_BUFFERED_BYTES: "16384" } });
const presence = await startPresence(stack.nats, { THREADLINE_PRESENCE_PORT: "0", THREADLINE_PRESENCE_SWEEP_MS: "50" });
afterAll(async () => {
  await presence.close();
  await stack[Symbol.asyncDispose]();
});
const gatewayUrl = `http://127.0.0.1:${stack.gateway.port}/metrics`;
const presenceUrl = `http://127.0.0.1:${presence.service.httpPort}/metrics`;

/** Prometheus text → `name{labels}` → value, plus the declared metric names. */
async function scrape(
  url: string,
): Promise<{ types: Set<string>; value(sample: string): number; sum(name: string): number }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  const text = await response.text();
  const types = new Set<string>();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) types.add(type[1] as string);
    else if (line && !line.startsWith("#")) {
      const at = line.lastIndexOf(" ");
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return {
    types,
    value: (sample) => samples.get(sample) ?? 0,
    sum: (name) =>
      [...samples].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((total, [, v]) => total + v, 0),
  };
}

describe("gateway /metrics", () => {
  it("declares every metric of the issue", async () => {
    const m = await scrape(gatewayUrl);
    for (const name of [
      "threadline_gateway_connections",
      "threadline_gateway_attachments",
      "threadline_gateway_active_sessions",
      "threadline_gateway_events_delivered_total",
      "threadline_gateway_catch_up_seconds",
      "threadline_gateway_slow_fallbacks_total",
      "threadline_gateway_auth_failures_total",
      "threadline_gateway_nats_reconnects_total",
      "threadline_gateway_live_resyncs_total",
    ]) {
      expect(m.types, name).toContain(name);
    }
  });

  it("counts connections, attachments, deliveries, catch-ups and auth failures", async () => {
    const before = await scrape(gatewayUrl);
    const bad = await RawSocket.open(stack.gateway.url);
    onTestFinished(() => bad.close());
    bad.send({ op: "hello", token: "not-a-jwt" });
    await bad.closed;

    for (let i = 0; i < 5; i++) await stack.agent.publish("metrics-s1", { type: "note", data: { i } });
    const socket = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }));
    onTestFinished(() => socket.close());
    await socket.request({ op: "attach", session: "metrics-s1", from: "start" });
    await socket.next((f) => f.op === "synced");
    await socket.waitEvents("metrics-s1", 5);

    const after = await scrape(gatewayUrl);
    expect(after.sum("threadline_gateway_auth_failures_total")).toBe(
      before.sum("threadline_gateway_auth_failures_total") + 1,
    );
    expect(after.value("threadline_gateway_connections")).toBe(1);
    expect(after.value("threadline_gateway_attachments")).toBe(1);
    expect(after.value("threadline_gateway_active_sessions")).toBe(1);
    expect(after.value("threadline_gateway_events_delivered_total")).toBeGreaterThanOrEqual(
      before.value("threadline_gateway_events_delivered_total") + 5,
    );
    expect(after.value("threadline_gateway_catch_up_seconds_count")).toBe(
      before.value("threadline_gateway_catch_up_seconds_count") + 1,
    );
  });

  it("counts a slow-client fallback", async () => {
    const net = controlledWebSocket();
    const client = createClient({
      url: stack.gateway.url,
      token: () => stack.token({ sub: "slowpoke" }),
      WebSocket: net.WebSocket as never,
    });
    onTestFinished(() => client.close());
    await client.attach("metrics-slow", { from: "now" });
    net.pause();
    const pad = "p".repeat(16_000);
    // Publish until the gateway moves the stalled socket off the live feed (kernel buffers absorb the first MBs).
    const fallbacks = async () => (await stack.gateway.metrics.slowFallbacks.get()).values[0]?.value ?? 0;
    for (let i = 0; i < 5000 && (await fallbacks()) === 0; i++) {
      await stack.agent.publish("metrics-slow", { type: "note", data: { i, pad } });
    }
    net.resume();
    const m = await scrape(gatewayUrl);
    expect(m.value("threadline_gateway_slow_fallbacks_total")).toBeGreaterThanOrEqual(1);
  });
});

describe("presence /metrics", () => {
  it("declares its metrics and counts joins, publish latency and timeouts", async () => {
    const before = await scrape(presenceUrl);
    for (const name of [
      "threadline_presence_connections",
      "threadline_presence_events_total",
      "threadline_presence_detections_total",
      "threadline_presence_invalid_entries_total",
      "threadline_presence_publish_seconds",
      "threadline_presence_disconnect_advisories_total",
      "threadline_presence_nats_reconnects_total",
      "threadline_presence_watching",
      "threadline_presence_snapshot_seconds",
    ]) {
      expect(before.types, name).toContain(name);
    }
    expect(before.value("threadline_presence_watching")).toBe(1);

    // A writer that heartbeats once and then goes silent: join, then a timeout detection and a leave.
    const kv = await new Kvm(stack.nc).open("threadline-presence");
    await kv.put(
      presenceKey("metrics-p1", "agent", "ghost", "c1"),
      JSON.stringify({
        kind: "agent",
        id: "ghost",
        connection: "c1",
        status: "active",
        since: Date.now(),
        heartbeatMs: 100,
      }),
    );
    await waitFor(
      async () => (await scrape(presenceUrl)).value('threadline_presence_detections_total{reason="timeout"}') >= 1,
    );
    const after = await scrape(presenceUrl);
    expect(after.value('threadline_presence_events_total{type="presence.join",result="stored"}')).toBe(
      before.value('threadline_presence_events_total{type="presence.join",result="stored"}') + 1,
    );
    await waitFor(
      async () =>
        (await scrape(presenceUrl)).value('threadline_presence_events_total{type="presence.leave",result="stored"}') >=
        before.value('threadline_presence_events_total{type="presence.leave",result="stored"}') + 1,
    );
    expect((await scrape(presenceUrl)).value("threadline_presence_publish_seconds_count")).toBeGreaterThanOrEqual(2);
  });
});

describe("NATS reconnects", () => {
  it("are counted by both services, and the gateway re-syncs its live feed", async () => {
    await stack.nats.restart();
    await waitFor(async () => (await scrape(gatewayUrl)).value("threadline_gateway_nats_reconnects_total") >= 1, {
      timeoutMs: 20_000,
    });
    await waitFor(
      async () => (await scrape(gatewayUrl)).value('threadline_gateway_live_resyncs_total{reason="reconnect"}') >= 1,
    );
    await waitFor(async () => (await scrape(presenceUrl)).value("threadline_presence_nats_reconnects_total") >= 1, {
      timeoutMs: 20_000,
    });
  });
});
