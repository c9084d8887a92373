import { describe, expect, test } from "vitest";
import type { SessionEvent } from "./envelope.ts";
import { MAX_MESSAGE_DELTA_BYTES, MAX_MESSAGE_PARTS } from "./message-types.ts";
import {
  applyMessageEvent,
  emptyMessageState,
  type MessageState,
  messageSnapshotData,
  stepMessageEvent,
  utf8Length,
} from "./messages.ts";

const agent = { kind: "agent" as const, id: "a1" };

function ev(type: string, fields: Partial<SessionEvent> = {}): SessionEvent {
  return { id: `e-${type}-${Math.random().toString(36).slice(2)}`, type, from: agent, ts: 0, ...fields };
}

function fold(events: SessionEvent[], state: MessageState = emptyMessageState(), firstSeq = 1): MessageState {
  let s = state;
  events.forEach((event, i) => {
    s = applyMessageEvent(s, { seq: firstSeq + i, event });
  });
  return s;
}

const start = (id: string, extra: Record<string, unknown> = {}) =>
  ev("message.start", { ref: id, turn: "t1", data: { id, role: "assistant", ...extra } });
const append = (id: string, part: number, delta: string, type?: string) =>
  ev("message.append", { ref: id, data: type === undefined ? { part, delta } : { part, delta, type } });
const endMsg = (id: string, status = "complete", error?: string) =>
  ev("message.end", { ref: id, data: error === undefined ? { status } : { status, error } });

describe("message reducer", () => {
  test("start, appends across text and reasoning parts, tool part, end", () => {
    const view = fold([
      start("m1"),
      append("m1", 0, "Let me ", "reasoning"),
      append("m1", 0, "think", "reasoning"),
      append("m1", 1, "Hel"),
      append("m1", 1, "lo"),
      ev("message.part", {
        ref: "m1",
        data: { part: 2, value: { type: "tool-search", toolCallId: "c1", state: "input-available", input: { q: 1 } } },
      }),
      endMsg("m1"),
    ]);
    expect(view.messages).toHaveLength(1);
    const m = view.messages[0]!;
    expect(m).toMatchObject({ id: "m1", role: "assistant", author: agent, status: "complete", turn: "t1", seq: 1 });
    expect(m.parts).toEqual([
      { type: "reasoning", text: "Let me think", state: "done" },
      { type: "text", text: "Hello", state: "done" },
      { type: "tool-search", toolCallId: "c1", state: "input-available", input: { q: 1 } },
    ]);
    expect(m.textBytes).toBe(utf8Length("Let me thinkHello"));
    expect(Object.values(view.rejected).every((n) => n === 0)).toBe(true);
  });

  test("user input becomes a user message with the input id (text or parts)", () => {
    const view = fold([
      ev("input", { id: "in1", from: { kind: "user", id: "u1", device: "d" }, data: { text: "hi" } }),
      ev("input", { id: "in2", from: { kind: "user", id: "u1" }, data: { parts: [{ type: "text", text: "yo" }] } }),
    ]);
    expect(view.messages.map((m) => [m.id, m.role, m.turn, m.status, m.parts])).toEqual([
      ["in1", "user", "in1", "complete", [{ type: "text", text: "hi" }]],
      ["in2", "user", "in2", "complete", [{ type: "text", text: "yo" }]],
    ]);
    expect(view.messages[0]!.author).toEqual({ kind: "user", id: "u1" });
  });

  test("replayed records (seq <= applied seq) are ignored: idempotent", () => {
    const events = [start("m1"), append("m1", 0, "a"), append("m1", 0, "b")];
    const once = fold(events);
    let twice = once;
    events.forEach((event, i) => {
      const step = stepMessageEvent(twice, { seq: i + 1, event });
      expect(step.outcome).toBe("duplicate");
      twice = step.state;
    });
    expect(twice).toBe(once);
    expect(once.messages[0]!.parts).toEqual([{ type: "text", text: "ab", state: "streaming" }]);
  });

  test("update replaces all parts (republish = clean state), also after the end", () => {
    const view = fold([
      start("m1"),
      append("m1", 0, "garbled retr"),
      ev("message.update", { ref: "m1", data: { parts: [{ type: "text", text: "clean" }], metadata: { v: 2 } } }),
      append("m1", 0, "!"),
      endMsg("m1", "error", "model failed"),
      ev("message.update", { ref: "m1", data: { parts: [{ type: "text", text: "fixed" }] } }),
    ]);
    expect(view.messages[0]).toMatchObject({
      parts: [{ type: "text", text: "fixed" }],
      metadata: { v: 2 },
      status: "error",
      error: "model failed",
    });
  });

  test("cancelled and interrupted messages stay visible with their status", () => {
    const view = fold([
      start("m1"),
      append("m1", 0, "par"),
      endMsg("m1", "cancelled"),
      start("m2"),
      endMsg("m2", "interrupted"),
    ]);
    expect(view.messages.map((m) => [m.id, m.status, m.parts.length])).toEqual([
      ["m1", "cancelled", 1],
      ["m2", "interrupted", 0],
    ]);
  });

  test.each([
    ["append to an unknown message", [append("nope", 0, "x")], "unknown_message"],
    ["append after end", [start("m1"), endMsg("m1"), append("m1", 0, "x")], "message_ended"],
    [
      "part after end",
      [start("m1"), endMsg("m1"), ev("message.part", { ref: "m1", data: { part: 0, value: { type: "step-start" } } })],
      "message_ended",
    ],
    ["second end", [start("m1"), endMsg("m1"), endMsg("m1", "error")], "message_ended"],
    ["duplicate start", [start("m1"), start("m1")], "duplicate_start"],
    ["part index gap", [start("m1"), append("m1", 1, "x")], "part_gap"],
    ["negative part index", [start("m1"), append("m1", -1, "x")], "invalid"],
    [
      "append to a tool part",
      [
        start("m1"),
        ev("message.part", {
          ref: "m1",
          data: { part: 0, value: { type: "dynamic-tool", toolName: "t", toolCallId: "c", state: "input-streaming" } },
        }),
        append("m1", 0, "x"),
      ],
      "part_type",
    ],
    [
      "append of another text-like type",
      [start("m1"), append("m1", 0, "x"), append("m1", 0, "y", "reasoning")],
      "part_type",
    ],
    ["oversized delta", [start("m1"), append("m1", 0, "x".repeat(MAX_MESSAGE_DELTA_BYTES + 1))], "too_large"],
    [
      "too many parts",
      [
        start("m1"),
        ev("message.update", {
          ref: "m1",
          data: { parts: Array.from({ length: MAX_MESSAGE_PARTS + 1 }, () => ({ type: "step-start" })) },
        }),
      ],
      "too_large",
    ],
    ["unknown role", [ev("message.start", { ref: "m1", data: { id: "m1", role: "robot" } })], "invalid"],
    ["message id not a token", [ev("message.start", { ref: "m 1", data: { role: "assistant" } })], "invalid"],
    [
      "data id differs from ref",
      [ev("message.start", { ref: "m1", data: { id: "m2", role: "assistant" } })],
      "invalid",
    ],
    ["bad end status", [start("m1"), endMsg("m1", "done")], "invalid"],
    ["delta not a string", [start("m1"), ev("message.append", { ref: "m1", data: { part: 0, delta: 5 } })], "invalid"],
    [
      "part without type",
      [start("m1"), ev("message.part", { ref: "m1", data: { part: 0, value: { text: "x" } } })],
      "invalid",
    ],
    ["no data", [start("m1"), ev("message.end", { ref: "m1" })], "invalid"],
    ["input without text or parts", [ev("input", { data: { foo: 1 } })], "invalid"],
  ] as const)("bad input is counted and leaves the view intact: %s", (_name, events, reason) => {
    const good = fold(events.slice(0, -1) as SessionEvent[]);
    const step = stepMessageEvent(good, { seq: good.seq + 1, event: events.at(-1) as SessionEvent });
    expect(step.outcome).toBe(reason);
    expect(step.state.rejected[reason]).toBe(good.rejected[reason] + 1);
    expect(step.state.messages).toBe(good.messages);
    expect(step.state.seq).toBe(good.seq + 1);
  });

  test("other event types only advance the seq", () => {
    const step = stepMessageEvent(emptyMessageState(), { seq: 7, event: ev("progress", { data: {} }) });
    expect(step.outcome).toBe("not_a_message_event");
    expect(step.state.seq).toBe(7);
    expect(step.state.messages).toEqual([]);
  });

  test("a snapshot upserts: inserted at its start seq, or replacing the held state", () => {
    const full = fold([
      start("m1"),
      start("m2"),
      append("m2", 0, "two"),
      endMsg("m2"),
      append("m1", 0, "one"),
      endMsg("m1"),
    ]);
    // Compact: m2's snapshot at the seq of its end (4), m1's at 6; order still by start seq.
    const m1 = full.messages[0]!;
    const m2 = full.messages[1]!;
    let compact = emptyMessageState();
    compact = applyMessageEvent(compact, {
      seq: 4,
      event: ev("message.snapshot", { ref: "m2", turn: "t1", data: messageSnapshotData(m2) }),
    });
    compact = applyMessageEvent(compact, {
      seq: 6,
      event: ev("message.snapshot", { ref: "m1", turn: "t1", data: messageSnapshotData(m1) }),
    });
    expect(compact.messages).toEqual(full.messages);
    // Upsert over an older state of the message.
    const partial = fold([start("m1"), append("m1", 0, "o")]);
    const upserted = applyMessageEvent(partial, {
      seq: 9,
      event: ev("message.snapshot", { ref: "m1", turn: "t1", data: messageSnapshotData(m1) }),
    });
    expect(upserted.messages).toEqual([m1]);
  });

  test("the reducer never mutates its input state", () => {
    const before = fold([start("m1"), append("m1", 0, "a")]);
    const frozen = JSON.stringify(before);
    fold([append("m1", 0, "b"), endMsg("m1"), start("m2")], before, before.seq + 1);
    expect(JSON.stringify(before)).toBe(frozen);
  });

  test("utf8Length counts UTF-8 bytes", () => {
    for (const s of ["", "abc", "é", "€", "😀", "a😀é\ud800"]) {
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).byteLength);
    }
  });
});
