import {
  decodeJson,
  decodeMsgpack,
  encodeMsgpack,
  MAX_EVENTS_FRAME_BYTES,
  MAX_EVENTS_PER_FRAME,
  type SessionEvent,
} from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { buildEventsFrame } from "./events-frame.ts";
import { FeedRecord } from "./feed-record.ts";

const SUBJECT = "tl.s1.out.agent.a1";
const event = (i: number, text = "x"): SessionEvent => ({
  id: `e${i}`,
  type: "progress",
  from: { kind: "agent", id: "a1" },
  ts: 1000 + i,
  data: { text },
});
const record = (seq: number, text?: string) => FeedRecord.decode("s1", seq, SUBJECT, encodeMsgpack(event(seq, text)))!;

/** Every frame of `records`, decoded, in the order a socket would get them. */
function frames(records: FeedRecord[], encoding: "msgpack" | "json") {
  const out: { op: string; session: string; seq?: number; seqs?: number[]; event?: unknown; events?: unknown[] }[] = [];
  for (let i = 0; i < records.length; ) {
    const { data, count } = buildEventsFrame(records, i, encoding);
    const frame = (typeof data === "string" ? decodeJson(data) : decodeMsgpack(data)) as (typeof out)[number];
    expect(count).toBe(frame.op === "events" ? frame.seqs!.length : 1);
    out.push(frame);
    i += count;
  }
  return out;
}

/** The (seq, event) pairs the frames carry, batch or single. */
const delivered = (fs: ReturnType<typeof frames>) =>
  fs.flatMap((f) => (f.op === "events" ? f.seqs!.map((seq, i) => [seq, f.events![i]]) : [[f.seq, f.event]]));

describe("buildEventsFrame", () => {
  it.each(["msgpack", "json"] as const)("%s: one frame carrying exactly what the event frames carry", (encoding) => {
    const records = [3, 5, 6, 9].map((seq) => record(seq));
    const fs = frames(records, encoding);
    expect(fs).toHaveLength(1);
    expect(fs[0]).toEqual({
      op: "events",
      session: "s1",
      seqs: [3, 5, 6, 9],
      events: [3, 5, 6, 9].map((seq) => event(seq)),
    });
  });

  it("msgpack: keys in the documented order, stored payloads embedded byte for byte", () => {
    const records = [1, 2].map((seq) => record(seq));
    const { data } = buildEventsFrame(records, 0, "msgpack");
    expect(Object.keys(decodeMsgpack(data as Uint8Array) as object)).toEqual(["op", "session", "seqs", "events"]);
    const bytes = Buffer.from(data as Uint8Array);
    for (const r of records) expect(bytes.includes(Buffer.from(encodeMsgpack(r.event)))).toBe(true);
  });

  it.each(["msgpack", "json"] as const)("%s: a single record goes out as its shared event frame", (encoding) => {
    const r = record(7);
    const { data, count } = buildEventsFrame([r], 0, encoding);
    expect(count).toBe(1);
    expect(data).toBe(r.frame(encoding));
  });

  it("an event whose author was pinned carries the pinned author, not the stored bytes", () => {
    const forged = FeedRecord.decode(
      "s1",
      4,
      SUBJECT,
      encodeMsgpack({ ...event(4), from: { kind: "operator", id: "x" } }),
    )!;
    const fs = frames([record(3), forged], "msgpack");
    expect((fs[0]!.events![1] as SessionEvent).from).toEqual({ kind: "agent", id: "a1" });
  });

  it.each(["msgpack", "json"] as const)("%s: split at MAX_EVENTS_PER_FRAME events", (encoding) => {
    const records = Array.from({ length: MAX_EVENTS_PER_FRAME * 2 + 5 }, (_, i) => record(i + 1));
    const fs = frames(records, encoding);
    expect(fs.map((f) => f.seqs?.length ?? 1)).toEqual([MAX_EVENTS_PER_FRAME, MAX_EVENTS_PER_FRAME, 5]);
    expect(delivered(fs).map(([seq]) => seq)).toEqual(records.map((r) => r.seq));
  });

  it.each(["msgpack", "json"] as const)("%s: split at MAX_EVENTS_FRAME_BYTES, never above it", (encoding) => {
    const big = "y".repeat(20_000);
    const records = Array.from({ length: 40 }, (_, i) => record(i + 1, big));
    const fs: number[] = [];
    for (let i = 0; i < records.length; ) {
      const { data, count } = buildEventsFrame(records, i, encoding);
      const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
      expect(size).toBeLessThanOrEqual(MAX_EVENTS_FRAME_BYTES);
      fs.push(count);
      i += count;
    }
    expect(fs.length).toBeGreaterThan(1);
    expect(fs.reduce((a, b) => a + b, 0)).toBe(40);
    expect(fs[0]).toBeGreaterThan(10);
  });

  it("an event larger than the frame limit still goes out, alone", () => {
    const records = [record(1, "z".repeat(MAX_EVENTS_FRAME_BYTES)), record(2)];
    expect(buildEventsFrame(records, 0, "msgpack").count).toBe(1);
    expect(buildEventsFrame(records, 1, "msgpack").count).toBe(1);
  });
});
