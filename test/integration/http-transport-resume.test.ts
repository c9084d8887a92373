import { type ConnectionStatus, createClient, memoryStorage, type ThreadlineClient } from "@threadline/client";
import { ErrorCode } from "@threadline/protocol";
import { startTcpProxy, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { type Stack, startStack } from "./support/stack.ts";

// The client SDK with `transport: "http"` (PROTOCOL.md §21.10) against a real gateway and nats-server: the
// exactly-once guarantees of the WebSocket path — resume across network failures, from stored positions,
// idempotent publishes — and the typed refusals of what HTTP cannot do. The network is a TCP proxy between
// client and gateway that the tests reset.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

let sessions = 0;
const sessionId = (name: string) => `http-${name}-${process.pid}-${++sessions}`;

function httpClient(url: string, options: Partial<Parameters<typeof createClient>[0]> = {}): ThreadlineClient {
  const client = createClient({
    url,
    transport: "http",
    token: () => stack.token({ sub: "alice" }),
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  });
  onTestFinished(() => client.close());
  return client;
}

const direct = () => `http://127.0.0.1:${stack.gateway.port}`;

async function storedSeqs(session: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const record of stack.agent.history(session)) seqs.push(record.seq);
  return seqs;
}

describe("exactly-once over HTTP", () => {
  test("clients applying a live stream through repeated network resets see every event once, in order", async () => {
    const proxy = await startTcpProxy(stack.gateway.port);
    onTestFinished(() => proxy.close());
    const session = sessionId("resets");
    const total = 1500;
    const received: number[][] = [[], []];
    const statuses: ConnectionStatus[] = [];
    const clients = [0, 1].map(() => httpClient(`http://127.0.0.1:${proxy.port}`));
    clients[0]!.onStatus((s) => statuses.push(s));
    await stack.agent.publish(session, { type: "note", data: { i: -1 } });
    for (const [i, client] of clients.entries()) {
      const handle = await client.attach(session, { from: "start" });
      handle.onEvent((r) => received[i]!.push(r.seq));
    }
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        await stack.agent.publish(session, { type: "note", data: { i, pad: "x".repeat(i % 300) } });
      }
    })();
    for (const at of [300, 700, 1100]) {
      await waitFor(() => received.every((r) => r.length >= at), { timeoutMs: 30_000 });
      proxy.drop();
      await waitFor(() => clients.every((c) => c.status.type !== "connected"), { timeoutMs: 10_000 });
      proxy.resume();
    }
    await publishing;
    const expected = await storedSeqs(session);
    expect(expected).toHaveLength(total + 1);
    await waitFor(() => received.every((r) => r.length >= expected.length), {
      timeoutMs: 30_000,
      message: `received ${received.map((r) => r.length).join("/")} of ${expected.length}`,
    });
    for (const r of received) expect(r).toEqual(expected);
    // The resets really broke the connection three times, and it came back over HTTP each time.
    const connected = statuses.filter((s) => s.type === "connected");
    expect(connected.length).toBeGreaterThanOrEqual(4);
    for (const s of connected) expect(s).toMatchObject({ transport: "http" });
  }, 120_000);

  test("a new client resumes from the stored position: only what came after, nothing twice", async () => {
    const session = sessionId("stored");
    const storage = memoryStorage();
    for (let i = 0; i < 5; i++) await stack.agent.publish(session, { type: "note", data: { i } });
    const first = httpClient(direct(), { storage });
    const a = await first.attach(session, { from: "start" });
    const seen: number[] = [];
    a.onEvent((r) => seen.push(r.seq));
    await a.whenSynced();
    expect(seen).toEqual(await storedSeqs(session));
    await first.close();
    for (let i = 5; i < 10; i++) await stack.agent.publish(session, { type: "note", data: { i } });
    const second = httpClient(direct(), { storage });
    const b = await second.attach(session);
    const later: number[] = [];
    b.onEvent((r) => later.push(r.seq));
    await b.whenSynced();
    const all = await storedSeqs(session);
    expect(later).toEqual(all.slice(5));
  });

  test("publishes go by POST, are seen once by the publisher, and a resend with the same id is a duplicate", async () => {
    const session = sessionId("publish");
    const client = httpClient(direct());
    const handle = await client.attach(session, { from: "start" });
    const inputs: string[] = [];
    handle.onEvent((r) => {
      if (r.event.type === "input") inputs.push(r.event.id);
    });
    // A brand-new session: the first event comes from this client (Threadline-Session: 1).
    const first = await handle.publish({ id: "http-input-1", type: "input", data: { text: "hello" } });
    expect(first).toMatchObject({ id: "http-input-1", duplicate: false });
    const again = await handle.publish({ id: "http-input-1", type: "input", data: { text: "hello" } });
    expect(again).toMatchObject({ id: "http-input-1", seq: first.seq, duplicate: true });
    await waitFor(() => inputs.length >= 1);
    await handle.publish({ type: "input", data: { text: "second" } });
    await waitFor(() => inputs.length >= 2);
    expect(inputs[0]).toBe("http-input-1");
    expect(new Set(inputs).size).toBe(inputs.length);
    expect(client.status).toMatchObject({ type: "connected", transport: "http", user: "alice" });
  });

  test("a publish refused by the gateway rejects with its typed error", async () => {
    const session = sessionId("refused");
    const client = httpClient(direct());
    const handle = await client.attach(session, { from: "start" });
    await expect(handle.publish({ type: "message.start", data: {} })).rejects.toMatchObject({
      code: ErrorCode.EVENT_TYPE_NOT_ALLOWED,
    });
    await expect(handle.cancel("no-such-turn")).rejects.toMatchObject({ code: ErrorCode.TURN_NOT_FOUND });
  });
});

describe("what HTTP maps and what it refuses", () => {
  test("attach from 'now' with shared state: the state is folded from the log, then changes arrive live", async () => {
    const session = sessionId("state");
    const writer = httpClient(direct());
    const w = await writer.attach(session, { from: "start" });
    await w.state("cart").set([], { items: ["a"] });
    await w.state("cart").insert("items", "b");
    const reader = httpClient(direct());
    const r = await reader.attach(session, { from: "now" });
    expect(r.state("cart").get()).toEqual({ items: ["a", "b"] });
    await w.state("cart").insert("items", "c");
    await waitFor(() => (r.state("cart").get() as { items: string[] }).items.length === 3);
    expect(r.state("cart").get()).toEqual({ items: ["a", "b", "c"] });
  });

  test("a position of another stream epoch is INSUFFICIENT_STATE (410), never a partial replay", async () => {
    const session = sessionId("epoch");
    await stack.agent.publish(session, { type: "note", data: {} });
    const client = httpClient(direct());
    await expect(client.attach(session, { from: { epoch: "someotherepoch", seq: 1 } })).rejects.toMatchObject({
      code: ErrorCode.INSUFFICIENT_STATE,
    });
  });

  test("from: 'cursor' needs the WebSocket: TRANSPORT_UNSUPPORTED", async () => {
    const client = httpClient(direct());
    await expect(client.attach(sessionId("unsupported"), { from: "cursor" })).rejects.toMatchObject({
      code: ErrorCode.TRANSPORT_UNSUPPORTED,
      retryable: false,
    });
  });

  test("a bad token ends the client like the WebSocket's 4500 close", async () => {
    const client = httpClient(direct(), { token: "not-a-jwt" });
    await expect(client.attach(sessionId("auth"), { from: "start" })).rejects.toMatchObject({
      code: ErrorCode.AUTH_FAILED,
    });
    expect(client.status).toMatchObject({ type: "closed", code: 4500 });
  });
});
