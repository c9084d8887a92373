import { jetstreamManager } from "@nats-io/jetstream";
import { DEFAULT_STREAM_NAME, type ErrorFrame, epochFromStreamCreated, newId } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, testStack } from "./support/stack.ts";

// The gateway's recent-events cache (services/gateway/src/recent-events.ts) on
// a real nats-server: catch-ups of a session nobody on this gateway was
// attached to are served from memory with exactly the events after the
// position; a recreated stream is never served from the old cache; with the
// cache off or past its bound, catch-ups read the stream, just as exactly.

interface Published {
  seq: number;
  id: string;
  epoch: string;
}

/** Publishes `count` events to `session`, each followed by `noise` events of another session (one stream holds all). */
async function publish(stack: Stack, session: string, count: number, noise = 1): Promise<Published[]> {
  const out: Published[] = [];
  for (let i = 0; i < count; i++) {
    const id = newId();
    const ack = await stack.agent.publish(session, { id, type: "note", data: { i, pad: "x".repeat(200) } });
    out.push({ seq: ack.seq, id, epoch: ack.epoch });
    for (let n = 0; n < noise; n++) await stack.agent.publish(`${session}-noise`, { type: "note", data: { n } });
  }
  return out;
}

async function catchUps(stack: Stack, source: "ring" | "cache" | "history"): Promise<number> {
  const metric = await stack.gateway.metrics.catchUps.get();
  return metric.values.find((v) => v.labels.source === source)?.value ?? 0;
}

/** Attaches a fresh socket from `from` and returns the seqs and ids it was sent until `synced`. */
async function resume(stack: Stack, session: string, from: unknown): Promise<{ seq: number; id: string }[]> {
  const socket = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: `reader-${newId()}` }));
  try {
    const attached = await socket.request({ op: "attach", session, from });
    expect(attached.op, JSON.stringify(attached)).toBe("attached");
    await socket.next((f) => f.op === "synced" && f.session === session);
    return socket.events(session).map((e) => ({ seq: e.seq, id: e.event.id }));
  } finally {
    socket.close();
  }
}

const position = (p: Published) => ({ epoch: p.epoch, seq: p.seq, id: p.id });
const expected = (events: Published[]) => events.map(({ seq, id }) => ({ seq, id }));

describe("recent-events cache", () => {
  it("serves the resume of a session never attached on this gateway from memory, exactly after the position", async () => {
    const stack = await testStack();
    const events = await publish(stack, "cached", 300);
    expect(stack.gateway.metrics.recentEventsSessions).toBeDefined();
    // Each position below the last: read from the cache (and kept in the session's ring, which fits them).
    for (const at of [298, 99, 0]) {
      const before = await catchUps(stack, "cache");
      expect(await resume(stack, "cached", position(events[at]!))).toEqual(expected(events.slice(at + 1)));
      expect(await catchUps(stack, "cache")).toBe(before + 1);
    }
    // From the start of the stream: the cache watched it from the gateway's start, so it covers that too.
    expect(await resume(stack, "cached", "start")).toEqual(expected(events));
    expect(await catchUps(stack, "cache")).toBe(4);
    // Again from a position: the ring holds it now.
    expect(await resume(stack, "cached", position(events[150]!))).toEqual(expected(events.slice(151)));
    expect(await catchUps(stack, "ring")).toBe(1);
    expect(await catchUps(stack, "history")).toBe(0);
    expect((await stack.gateway.metrics.recentEventsBytes.get()).values[0]!.value).toBeGreaterThan(300 * 200);
  });

  it("with the cache off (THREADLINE_CACHE_BYTES=0) reads the stream, with the same events", async () => {
    const stack = await testStack({ gatewayEnv: { THREADLINE_CACHE_BYTES: "0" } });
    const events = await publish(stack, "uncached", 100);
    expect(await resume(stack, "uncached", position(events[49]!))).toEqual(expected(events.slice(50)));
    expect(await catchUps(stack, "history")).toBe(1);
    expect(await catchUps(stack, "cache")).toBe(0);
    expect((await stack.gateway.metrics.recentEventsBytes.get()).values[0]!.value).toBe(0);
  });

  it("past its bound, older positions read the stream and recent ones the cache, both exact", async () => {
    // ≈ 330 bytes accounted per event; 64 KiB hold ≈ 200 events of the stream (100 of this session, with noise).
    const stack = await testStack({ gatewayEnv: { THREADLINE_CACHE_BYTES: String(64 * 1024) } });
    const events = await publish(stack, "evicted", 300);
    expect((await stack.gateway.metrics.recentEventsBytes.get()).values[0]!.value).toBeLessThanOrEqual(64 * 1024);
    expect(await resume(stack, "evicted", position(events[10]!))).toEqual(expected(events.slice(11)));
    expect(await catchUps(stack, "history")).toBe(1);
    expect(await resume(stack, "evicted", position(events[280]!))).toEqual(expected(events.slice(281)));
    expect(await catchUps(stack, "cache")).toBe(1);
  });

  it("after the stream was recreated (new epoch) never serves the old cache", async () => {
    const stack = await testStack();
    const old = await publish(stack, "recreated", 50, 0);
    const jsm = await jetstreamManager(stack.nc);
    const { config } = await jsm.streams.info(DEFAULT_STREAM_NAME);
    await jsm.streams.delete(DEFAULT_STREAM_NAME);
    await jsm.streams.add(config);
    // The new stream numbers from 1 again: seqs the cache holds old events under.
    // (The agent's acks may carry the epoch it saw first; the stream's creation time is the epoch.)
    const epoch = epochFromStreamCreated((await jsm.streams.info(DEFAULT_STREAM_NAME)).created);
    const fresh = (await publish(stack, "recreated", 5, 0)).map((p) => ({ ...p, epoch }));
    expect(epoch).not.toBe(old[0]!.epoch);
    expect(fresh.at(-1)!.seq).toBeLessThan(old.at(-1)!.seq);
    expect(await resume(stack, "recreated", position(fresh[1]!))).toEqual(expected(fresh.slice(2)));
    expect(await catchUps(stack, "cache")).toBe(0);
    // A position of the old stream is refused, not continued from memory.
    const socket = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "old-reader" }));
    try {
      const refused = await socket.request<ErrorFrame>({
        op: "attach",
        session: "recreated",
        from: position(old[40]!),
      });
      expect(refused).toMatchObject({ op: "error", code: "INSUFFICIENT_STATE" });
    } finally {
      socket.close();
    }
  });
});
