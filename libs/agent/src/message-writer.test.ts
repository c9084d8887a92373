import { applyMessageEvent, ErrorCode, emptyMessageState, type Message, ThreadlineError } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import type { AgentEvent, PublishAck } from "./agent-api.ts";
import { type MessagePublisher, startMessage } from "./message-writer.ts";
import { useAgent } from "./test-support/nats-fixture.ts";

const fx = useAgent({ id: "writer" });

async function stored(session: string): Promise<SubjectRecord[]> {
  const out: SubjectRecord[] = [];
  for await (const r of fx.agent.history(session)) out.push(r);
  return out;
}

async function materialized(session: string): Promise<readonly Message[]> {
  let view = emptyMessageState();
  for (const r of await stored(session)) view = applyMessageEvent(view, r);
  expect(Object.values(view.rejected).every((n) => n === 0)).toBe(true);
  return view.messages;
}

/** The real agent, with acks held back while `gate` is closed and the largest number of concurrent publishes recorded. */
function gated(): MessagePublisher & { open(): void; maxConcurrent: number } {
  let release: () => void = () => {};
  let gate: Promise<void> | undefined = new Promise<void>((resolve) => {
    release = resolve;
  });
  let current = 0;
  const publisher = {
    id: fx.agent.id,
    kind: fx.agent.kind,
    maxConcurrent: 0,
    open() {
      gate = undefined;
      release();
    },
    async publish(session: string, event: AgentEvent): Promise<PublishAck> {
      current++;
      publisher.maxConcurrent = Math.max(publisher.maxConcurrent, current);
      try {
        const ack = await fx.agent.publish(session, event);
        if (gate) await gate;
        return ack;
      } finally {
        current--;
      }
    },
  };
  return publisher;
}

const tokens = (n: number) => Array.from({ length: n }, (_, i) => `tok${i} `);

describe("message writer", () => {
  it("batches deltas within the window: far fewer events, same text, in order", async () => {
    const writer = startMessage(fx.agent, "batch", { turn: "t1", flushMs: 20 });
    const words = tokens(200);
    for (const w of words) await writer.append(w);
    await writer.end();
    const records = await stored("batch");
    const types = records.map((r) => r.event.type);
    expect(types[0]).toBe("message.start");
    expect(types.at(-1)).toBe("message.end");
    const appends = records.filter((r) => r.event.type === "message.append");
    // 200 synchronous-looking appends fit into a handful of 20 ms windows / in-flight slots.
    expect(appends.length).toBeLessThan(20);
    expect(records.every((r) => r.event.ref === writer.id && r.event.turn === "t1")).toBe(true);
    const [message] = await materialized("batch");
    expect(message).toMatchObject({ id: writer.id, status: "complete", turn: "t1", role: "assistant" });
    expect(message!.parts).toEqual([{ type: "text", text: words.join(""), state: "done" }]);
    expect(writer.stats()).toMatchObject({ deltas: 200, events: records.length, inFlight: 0 });
  });

  it("flushMs 0 publishes every awaited append as its own event", async () => {
    const writer = startMessage(fx.agent, "per-token", { flushMs: 0 });
    const words = tokens(30);
    for (const w of words) await writer.append(w);
    await writer.end();
    const appends = (await stored("per-token")).filter((r) => r.event.type === "message.append");
    expect(appends.map((r) => (r.event.data as { delta: string }).delta)).toEqual(words);
  });

  it("end flushes the buffer at once, before the window passes", async () => {
    const writer = startMessage(fx.agent, "end-flush", { flushMs: 60_000 });
    void writer.append("never ");
    void writer.append("waits", { type: "text" });
    void writer.append("hmm", { type: "reasoning" });
    await writer.end("complete");
    const [message] = await materialized("end-flush");
    expect(message!.parts).toEqual([
      { type: "text", text: "never waits", state: "done" },
      { type: "reasoning", text: "hmm", state: "done" },
    ]);
  });

  it("the abort signal flushes and ends the message cancelled; later writes are ignored", async () => {
    const controller = new AbortController();
    const writer = startMessage(fx.agent, "abort", { flushMs: 60_000, signal: controller.signal });
    await writer.append("partial ");
    await writer.append("answer");
    controller.abort();
    await writer.closed;
    expect(writer.status).toBe("cancelled");
    await writer.append("ignored");
    await writer.end("complete");
    const records = await stored("abort");
    // "partial " went out at once (leading edge), "answer" waited in the window until the abort flushed it.
    expect(records.map((r) => r.event.type)).toEqual([
      "message.start",
      "message.append",
      "message.append",
      "message.end",
    ]);
    const [message] = await materialized("abort");
    expect(message).toMatchObject({ status: "cancelled", parts: [{ type: "text", text: "partial answer" }] });
  });

  it("tool parts, updates and text interleave in call order", async () => {
    const writer = startMessage(fx.agent, "parts", { flushMs: 50 });
    void writer.append("Looking up");
    void writer.setPart(1, { type: "tool-search", toolCallId: "c1", state: "input-available", input: { q: "x" } });
    void writer.setPart(1, {
      type: "tool-search",
      toolCallId: "c1",
      state: "output-available",
      input: { q: "x" },
      output: 3,
    });
    void writer.append("Found 3");
    await writer.end();
    const [message] = await materialized("parts");
    expect(message!.parts).toEqual([
      { type: "text", text: "Looking up", state: "done" },
      { type: "tool-search", toolCallId: "c1", state: "output-available", input: { q: "x" }, output: 3 },
      { type: "text", text: "Found 3", state: "done" },
    ]);
    // Republish = clean state.
    const retry = startMessage(fx.agent, "parts", { id: "retried" });
    await retry.append("garbl");
    await retry.update([{ type: "text", text: "clean" }]);
    await retry.end();
    const messages = await materialized("parts");
    expect(messages[1]!.parts).toEqual([{ type: "text", text: "clean" }]);
  });

  it("deltas above maxBytes are split on character boundaries", async () => {
    const writer = startMessage(fx.agent, "split", { maxBytes: 64 });
    const text = "é😀abc".repeat(100);
    await writer.append(text);
    await writer.end();
    const appends = (await stored("split")).filter((r) => r.event.type === "message.append");
    const deltas = appends.map((r) => (r.event.data as { delta: string }).delta);
    expect(deltas.length).toBeGreaterThan(10);
    for (const d of deltas) expect(new TextEncoder().encode(d).byteLength).toBeLessThanOrEqual(64);
    expect(deltas.join("")).toBe(text);
  });

  it("backpressure: at most maxInFlight unacknowledged events; deltas coalesce meanwhile, never reordered", async () => {
    const publisher = gated();
    const writer = startMessage(publisher, "backpressure", { flushMs: 0, maxInFlight: 2 });
    const words = tokens(100);
    const accepted = words.map((w) => writer.append(w));
    let settled = false;
    void Promise.all(accepted).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(publisher.maxConcurrent).toBe(2);
    publisher.open();
    await Promise.all(accepted);
    await writer.end();
    expect(publisher.maxConcurrent).toBe(2);
    const appends = (await stored("backpressure")).filter((r) => r.event.type === "message.append");
    // start + first token held two slots; the other 99 tokens coalesced while they were held.
    expect(appends.length).toBeLessThan(10);
    const [message] = await materialized("backpressure");
    expect((message!.parts[0] as { text: string }).text).toBe(words.join(""));
  });

  it("misuse throws typed errors", async () => {
    const writer = startMessage(fx.agent, "misuse", { flushMs: 0 });
    expect(() => writer.append("x", { part: 3 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FRAME }));
    expect(() => writer.setPart(0, { text: "no type" } as never)).toThrow(ThreadlineError);
    await writer.append("x");
    expect(() => writer.append("y", { part: 0, type: "reasoning" })).toThrow(/not a reasoning part/);
    await writer.end();
    expect(() => writer.append("late")).toThrow(expect.objectContaining({ code: ErrorCode.MESSAGE_ENDED }));
    expect(() => startMessage(fx.agent, "misuse", { id: "not a token" })).toThrow(ThreadlineError);
    expect(() => startMessage(fx.agent, "misuse", { maxBytes: 1e9 })).toThrow(RangeError);
  });

  it("a failed publish fails the writer: writes and end reject with the error", async () => {
    const failing: MessagePublisher = {
      id: "x",
      kind: "agent",
      publish: () => Promise.reject(new ThreadlineError(ErrorCode.PUBLISH_FAILED, "boom")),
    };
    const writer = startMessage(failing, "fail");
    await expect(writer.closed).rejects.toThrow("boom");
    expect(() => writer.append("x")).toThrow("boom");
    await expect(writer.end()).rejects.toThrow("boom");
  });
});
