import { createClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { type Stack, startStack } from "./support/stack.ts";

// nats-server is restarted (same store) while an agent streams and clients
// watch: the gateway's live feeds re-sync from the stream and clients see
// every acknowledged event exactly once.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

it("live feeds recover after a nats-server restart with no loss or duplicates", async () => {
  const session = "nats-restart";
  const total = 1500;
  const received: number[] = [];
  const client = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "watcher" }),
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 200 },
  });
  try {
    const handle = await client.attach(session, { from: "start" });
    handle.onEvent((r) => received.push(r.seq));
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        // An agent keeps retrying with the same event id until the stream acknowledges it.
        const id = `restart-${i}`;
        for (;;) {
          try {
            await stack.agent.publish(session, { id, type: "note", data: { i } });
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        published++;
      }
    })();
    await waitFor(() => received.length >= 300, { timeoutMs: 20_000 });
    await stack.nats.restart();
    await publishing;
    expect(published).toBe(total);
    const expected: number[] = [];
    for await (const r of stack.agent.history(session)) expected.push(r.seq);
    expect(expected).toHaveLength(total);
    await waitFor(() => received.length >= total, {
      timeoutMs: 30_000,
      message: `received ${received.length} of ${total}`,
    });
    expect(received).toEqual(expected);
    expect(
      await stack.gateway.metrics.registry.getSingleMetricAsString("threadline_gateway_nats_reconnects_total"),
    ).toMatch(/ [1-9]\d*$/m);
  } finally {
    await client.close();
  }
}, 90_000);
