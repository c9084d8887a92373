import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AgentEvent, PublishAck } from "./agent-api.ts";
import { type MessagePublisher, startMessage } from "./message-writer.ts";

// The batching window's timing, on a fake clock (setTimeout and performance.now) with a publisher
// that acknowledges at once: the writer's own rule, without the broker's or the machine's latency
// (message-writer.test.ts runs the writer against a real nats-server).

/** Publishes nothing: records each event's type, delta and fake time, and acknowledges at once. */
function recorder(): MessagePublisher & { sent: { type: string; delta?: string; at: number }[] } {
  let seq = 0;
  const sent: { type: string; delta?: string; at: number }[] = [];
  return {
    id: "writer",
    kind: "agent",
    sent,
    publish(_session: string, event: AgentEvent): Promise<PublishAck> {
      const delta = (event.data as { delta?: string } | undefined)?.delta;
      sent.push({ type: event.type, ...(delta === undefined ? {} : { delta }), at: performance.now() });
      return Promise.resolve({ id: event.id ?? `e${seq}`, seq: ++seq, epoch: "test", duplicate: false });
    },
  };
}

const appends = (p: ReturnType<typeof recorder>) =>
  p.sent.filter((e) => e.type === "message.append").map(({ delta, at }) => ({ delta, at }));

describe("message writer: the batching window", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends the first delta at once, holds the next ones until flushMs after that send, and a delta after a quiet window at once", async () => {
    const publisher = recorder();
    const writer = startMessage(publisher, "s1", { flushMs: 20 });
    const t0 = performance.now();
    void writer.append("a");
    await vi.advanceTimersByTimeAsync(0);
    expect(appends(publisher)).toEqual([{ delta: "a", at: t0 }]);

    await vi.advanceTimersByTimeAsync(5);
    void writer.append("b");
    await vi.advanceTimersByTimeAsync(5);
    void writer.append("c");
    // Nothing before the window ends (t0 + 20)…
    await vi.advanceTimersByTimeAsync(9);
    expect(appends(publisher)).toHaveLength(1);
    // …then both buffered deltas as one event, exactly at its end: "b" waited 15 ms, "c" 10 ms.
    await vi.advanceTimersByTimeAsync(1);
    expect(appends(publisher)).toEqual([
      { delta: "a", at: t0 },
      { delta: "bc", at: t0 + 20 },
    ]);

    // A quiet window later (≥ flushMs since the last send), a delta goes out at once.
    await vi.advanceTimersByTimeAsync(30);
    void writer.append("d");
    await vi.advanceTimersByTimeAsync(0);
    expect(appends(publisher).at(-1)).toEqual({ delta: "d", at: t0 + 50 });
    await writer.end();
    expect(publisher.sent.map((e) => e.type)).toEqual([
      "message.start",
      "message.append",
      "message.append",
      "message.append",
      "message.end",
    ]);
  });

  it("a steady stream is sent once per window: no delta waits longer than flushMs", async () => {
    const publisher = recorder();
    const writer = startMessage(publisher, "s2", { flushMs: 20 });
    const t0 = performance.now();
    const appendedAt: number[] = [];
    // 500 tokens/s: one token every 2 ms for 200 ms.
    for (let i = 0; i < 100; i++) {
      appendedAt.push(performance.now());
      void writer.append(`${i} `);
      await vi.advanceTimersByTimeAsync(2);
    }
    await vi.advanceTimersByTimeAsync(20);
    const sent = appends(publisher);
    // One event per 20 ms window (plus the leading one), every token in it, in order.
    expect(sent.length).toBeLessThanOrEqual(Math.ceil(200 / 20) + 1);
    expect(sent.map((e) => e.delta).join("")).toBe(Array.from({ length: 100 }, (_, i) => `${i} `).join(""));
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(20);
    // Each token's wait: from its append to the first send at or after it.
    const waits = appendedAt.map((at) => sent.find((e) => e.at >= at)!.at - at);
    expect(Math.max(...waits)).toBeLessThanOrEqual(20);
    expect(sent[0]!.at).toBe(t0);
    await writer.end();
  });

  it("maxBytes sends before the window ends", async () => {
    const publisher = recorder();
    const writer = startMessage(publisher, "s3", { flushMs: 1000, maxBytes: 4 });
    void writer.append("ab");
    await vi.advanceTimersByTimeAsync(1);
    void writer.append("cd");
    void writer.append("ef");
    await vi.advanceTimersByTimeAsync(1);
    // "ab" leads; "cd" + "ef" reach 4 bytes with "ef" and go out then, not after 1000 ms.
    expect(appends(publisher).map((e) => e.delta)).toEqual(["ab", "cdef"]);
    await writer.end();
  });
});
