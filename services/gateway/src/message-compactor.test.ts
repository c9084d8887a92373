import {
  applyMessageEvent,
  emptyMessageState,
  type Message,
  type MessageState,
  type SessionEvent,
} from "@threadline/protocol";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { FeedRecord } from "./feed-record.ts";
import { type CompactorLimits, MessageCompactor } from "./message-compactor.ts";

const agent = { kind: "agent" as const, id: "a1" };
let ids = 0;
const record = (seq: number, type: string, fields: Partial<SessionEvent> = {}): FeedRecord =>
  new FeedRecord("s", seq, "tl.s.out.agent.a1", { id: `e${++ids}`, type, from: agent, ts: seq, ...fields }, undefined);

/** Replays `records` after `from` through a compactor, as an attachment pass does. */
function compact(records: FeedRecord[], from: number, limits?: CompactorLimits): FeedRecord[] {
  const compactor = new MessageCompactor("s", limits);
  const out: FeedRecord[] = [];
  for (const r of records) if (r.seq > from) out.push(...compactor.push(r));
  out.push(...compactor.finish());
  return out;
}

function view(records: FeedRecord[], state: MessageState = emptyMessageState()): readonly Message[] {
  let s = state;
  for (const r of records) s = applyMessageEvent(s, r);
  return s.messages;
}

/** A random session: interleaved messages (deltas, parts, ends), user inputs, other events and some bad input. */
const sessionArb = fc
  .array(
    fc.oneof(
      {
        weight: 10,
        arbitrary: fc.record({
          k: fc.constant("append" as const),
          m: fc.nat(3),
          text: fc.string({ maxLength: 6 }),
          reasoning: fc.boolean(),
        }),
      },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("start" as const), m: fc.nat(3) }) },
      {
        weight: 2,
        arbitrary: fc.record({
          k: fc.constant("end" as const),
          m: fc.nat(3),
          status: fc.constantFrom("complete", "cancelled", "interrupted", "error"),
        }),
      },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("part" as const), m: fc.nat(3) }) },
      {
        weight: 1,
        arbitrary: fc.record({ k: fc.constant("update" as const), m: fc.nat(3), text: fc.string({ maxLength: 4 }) }),
      },
      { weight: 2, arbitrary: fc.record({ k: fc.constant("other" as const) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("input" as const), text: fc.string({ maxLength: 4 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("bad" as const), m: fc.nat(3) }) },
    ),
    { maxLength: 120 },
  )
  .map((steps) => {
    const records: FeedRecord[] = [];
    const generation = [0, 0, 0, 0];
    const parts = [0, 0, 0, 0];
    let seq = 0;
    for (const step of steps) {
      seq += 1 + (seq % 3); // seqs of one session are increasing, not contiguous
      if (step.k === "other") records.push(record(seq, "progress", { data: { step: "x" } }));
      else if (step.k === "input")
        records.push(record(seq, "input", { from: { kind: "user", id: "u" }, data: { text: step.text } }));
      else {
        const m = step.m;
        const id = `m${m}-${generation[m]}`;
        if (step.k === "start") {
          generation[m]!++;
          parts[m] = 0;
          const fresh = `m${m}-${generation[m]}`;
          records.push(record(seq, "message.start", { ref: fresh, turn: "t", data: { id: fresh, role: "assistant" } }));
        } else if (step.k === "append") {
          // Mostly extend the last part, sometimes open the next one (reasoning or text).
          const open = step.reasoning || parts[m] === 0;
          const part = open ? parts[m]! : parts[m]! - 1;
          if (open) parts[m]!++;
          const data = step.reasoning ? { part, delta: step.text, type: "reasoning" } : { part, delta: step.text };
          records.push(record(seq, "message.append", { ref: id, data }));
        } else if (step.k === "part") {
          records.push(
            record(seq, "message.part", { ref: id, data: { part: parts[m]!++, value: { type: "data-x", data: seq } } }),
          );
        } else if (step.k === "update") {
          parts[m] = 1;
          records.push(
            record(seq, "message.update", { ref: id, data: { parts: [{ type: "text", text: step.text }] } }),
          );
        } else if (step.k === "end") {
          records.push(record(seq, "message.end", { ref: id, data: { status: step.status } }));
        } else {
          records.push(record(seq, "message.append", { ref: id, data: { part: 99, delta: "gap" } }));
        }
      }
    }
    return records;
  });

const tiny: CompactorLimits = {
  maxHeldRecords: 3,
  maxHeldBytes: 1 << 20,
  maxTrackedMessages: 2,
  maxTrackedTextBytes: 12,
  maxRememberedIds: 4,
};

describe("message compactor", () => {
  test("a message streamed without interruption is one snapshot at the seq of its end", () => {
    const records = [
      record(1, "input", { from: { kind: "user", id: "u" }, data: { text: "hi" } }),
      record(3, "message.start", { ref: "m1", turn: "t", data: { id: "m1", role: "assistant" } }),
      ...Array.from({ length: 50 }, (_, i) =>
        record(4 + i, "message.append", { ref: "m1", data: { part: 0, delta: `w${i} ` } }),
      ),
      record(60, "message.end", { ref: "m1", data: { status: "complete" } }),
      record(61, "message.start", { ref: "m2", data: { id: "m2", role: "assistant" } }),
      record(62, "message.append", { ref: "m2", data: { part: 0, delta: "in flight" } }),
    ];
    const out = compact(records, 0);
    expect(out.map((r) => [r.seq, r.event.type])).toEqual([
      [1, "input"],
      [60, "message.snapshot"],
      [62, "message.snapshot"],
    ]);
    expect(out[1]!.event).toMatchObject({ id: records[52]!.event.id, ref: "m1", turn: "t" });
    expect(view(out)).toEqual(view(records));
    // The in-flight message continues with live deltas after its snapshot.
    const live = record(63, "message.append", { ref: "m2", data: { part: 0, delta: "!" } });
    expect(view([...out, live])).toEqual(view([...records, live]));
  });

  test("deltas of a message that started before the pass are merged, not snapshotted", () => {
    const records = [
      record(1, "message.start", { ref: "m1", data: { id: "m1", role: "assistant" } }),
      record(2, "message.append", { ref: "m1", data: { part: 0, delta: "a" } }),
      record(3, "message.append", { ref: "m1", data: { part: 0, delta: "b" } }),
      record(4, "message.append", { ref: "m1", data: { part: 0, delta: "c" } }),
      record(5, "message.end", { ref: "m1", data: { status: "complete" } }),
    ];
    const out = compact(records, 2);
    expect(out.map((r) => r.event.type)).toEqual(["message.append", "message.append", "message.end"]);
    const before = records.slice(0, 2).reduce((s, r) => applyMessageEvent(s, r), emptyMessageState());
    expect(view(out, before)).toEqual(view(records));
  });

  test.each([
    ["default limits", undefined],
    ["tiny limits (early releases, untracked messages, passthrough)", tiny],
  ])("property: resuming from any delivered seq gives the full stream's view (%s)", (_name, limits) => {
    fc.assert(
      fc.property(sessionArb, fc.array(fc.nat(), { maxLength: 3 }), (records, cuts) => {
        const full = view(records);
        // A client that applies the compacted stream, disconnecting after random delivered frames and
        // resuming (a new pass) from the last seq it applied.
        let state = emptyMessageState();
        let from = 0;
        for (const cut of cuts) {
          const out = compact(records, from, limits);
          if (out.length === 0) break;
          const applied = out.slice(0, (cut % out.length) + 1);
          for (const r of applied) state = applyMessageEvent(state, r);
          from = applied.at(-1)!.seq;
        }
        for (const r of compact(records, from, limits)) state = applyMessageEvent(state, r);
        expect(state.messages).toEqual(full);
      }),
      { numRuns: 300 },
    );
  });
});
