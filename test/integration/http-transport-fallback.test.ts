import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type ConnectionStatus, createClient, type ThreadlineClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { WebSocketServer } from "ws";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { type Stack, startStack } from "./support/stack.ts";

// `transport: "auto"` (PROTOCOL.md §21.10) on a network that blocks WebSockets: a proxy that refuses the
// upgrade, or one that accepts it and then holds every frame. The client falls back to HTTP within 3 s, keeps
// every session exactly-once, and moves back to the WebSocket once one gets through — without a gap or a
// duplicate. The gateway is real; the WebSocket's route goes through the blocker until the test opens it.

let stack: Stack;
/** Answers every upgrade with 403, like a proxy that blocks WebSockets. */
let refuser: string;
/** Accepts upgrades and never sends a frame, like a proxy that buffers them. */
let staller: string;

beforeAll(async () => {
  stack = await startStack();
  const server = createServer((_, res) => res.writeHead(404).end());
  server.on("upgrade", (_, socket) => socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  refuser = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`;
  const silent = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => silent.once("listening", resolve));
  staller = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/ws`;
  return async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    for (const client of silent.clients) client.terminate();
    await new Promise((resolve) => silent.close(resolve));
  };
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

let sessions = 0;
const sessionId = (name: string) => `auto-${name}-${process.pid}-${++sessions}`;

function autoClient(blockedBy: string, options: Partial<Parameters<typeof createClient>[0]> = {}) {
  const net = controlledWebSocket(blockedBy);
  const client: ThreadlineClient = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "alice" }),
    WebSocket: net.WebSocket as never,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  });
  onTestFinished(() => client.close());
  const statuses: ConnectionStatus[] = [];
  client.onStatus((s) => statuses.push(s));
  return { client, net, statuses };
}

const connectedOver = (statuses: ConnectionStatus[], transport: "websocket" | "http") =>
  statuses.some((s) => s.type === "connected" && s.transport === transport);

async function storedSeqs(session: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const record of stack.agent.history(session)) seqs.push(record.seq);
  return seqs;
}

describe("auto falls back to HTTP within 3 s", () => {
  test.each([
    ["the upgrade is refused", () => refuser],
    ["the upgrade stalls (no welcome)", () => staller],
  ])("when %s, and streams over HTTP", async (_, blocker) => {
    const session = sessionId("fallback");
    await stack.agent.publish(session, { type: "note", data: { n: 0 } });
    const { client, net, statuses } = autoClient(blocker());
    const started = performance.now();
    const handle = await client.attach(session, { from: "start" });
    const elapsed = performance.now() - started;
    expect(client.status).toMatchObject({ type: "connected", transport: "http" });
    expect(elapsed).toBeLessThan(3_000);
    expect(net.opened).toBe(1);
    expect(connectedOver(statuses, "websocket")).toBe(false);
    const seqs: number[] = [];
    handle.onEvent((r) => seqs.push(r.seq));
    const { seq } = await stack.agent.publish(session, { type: "note", data: { n: 1 } });
    await waitFor(() => seqs.includes(seq));
    expect(seqs).toEqual(await storedSeqs(session));
  });
});

describe("auto returns to the WebSocket", () => {
  test("once the upgrade gets through, sessions move to it mid-stream with no gap and no duplicate", async () => {
    const session = sessionId("return");
    const { client, net, statuses } = autoClient(refuser, {
      webSocketRetry: { initialDelayMs: 200, maxDelayMs: 400, jitter: 0 },
    });
    const received: number[] = [];
    const total = 1200;
    await stack.agent.publish(session, { type: "note", data: { i: -1 } });
    const handle = await client.attach(session, { from: "start" });
    handle.onEvent((r) => received.push(r.seq));
    expect(client.status).toMatchObject({ type: "connected", transport: "http" });
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        await stack.agent.publish(session, { type: "note", data: { i } });
        published++;
      }
    })();
    // The client's own publishes cross the switch too: each is stored once.
    const own = (async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await handle.publish({ type: "input", data: { text: `m${i}` } })).id);
      return ids;
    })();
    await waitFor(() => received.length >= 300, { timeoutMs: 30_000 });
    // Probes so far were refused: still on HTTP.
    expect(client.status).toMatchObject({ transport: "http" });
    const probesBefore = net.opened;
    expect(probesBefore).toBeGreaterThan(1);
    net.route(stack.gateway.url);
    await waitFor(() => client.status.type === "connected" && client.status.transport === "websocket", {
      timeoutMs: 10_000,
      message: "the client did not move back to the WebSocket",
    });
    await publishing;
    const ownIds = await own;
    const expected = await storedSeqs(session);
    expect(expected).toHaveLength(total + 1 + ownIds.length);
    await waitFor(() => received.length >= expected.length, {
      timeoutMs: 30_000,
      message: `received ${received.length} of ${expected.length}`,
    });
    expect(received).toEqual(expected);
    expect(published).toBe(total);
    // HTTP first, then the WebSocket, and no reconnecting in between: the probe replaced the connection.
    const connected = statuses.filter((s) => s.type === "connected").map((s) => s.type === "connected" && s.transport);
    expect(connected).toEqual(["http", "websocket"]);
  }, 90_000);
});
