import type { SessionEvent } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import type { TimelineRecord } from "./stream-reader.ts";
import { formatRecord, recordJson, SUMMARY_WIDTH, summarize } from "./timeline-format.ts";

const ts = Date.UTC(2026, 0, 2, 9, 15, 2, 114);
const record = (event: Partial<SessionEvent> & { type: string }): TimelineRecord => ({
  seq: 42,
  session: "s1",
  subject: "tl.s1.out.agent.triage",
  stored: new Date(ts),
  event: { id: "e1", from: { kind: "agent", id: "triage" }, ts, ...event },
});

describe("formatRecord", () => {
  it("prints seq, UTC time, author, type, turn/ref and a summary", () => {
    const line = formatRecord(
      record({ type: "message.append", turn: "t1", ref: "m1", data: { part: 0, delta: "Hello" } }),
    );
    expect(line).toBe(
      `${"42".padStart(6)}  09:15:02.114  ${"agent:triage".padEnd(20)}  ${"message.append".padEnd(16)}  turn=t1 ref=m1 "Hello"`,
    );
  });

  it("tags the trace id of a valid traceparent, and ignores an invalid one", () => {
    const traced = record({ type: "note", trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    expect(formatRecord(traced)).toContain("trace=4bf92f3577b34da6a3ce929d0e0e4736");
    expect(formatRecord(record({ type: "note", trace: "junk" }))).not.toContain("trace=");
  });

  it("shows the device of users and flags invalid payloads", () => {
    const user = record({ type: "input", from: { kind: "user", id: "alice", device: "tab-1" }, data: { text: "hi" } });
    expect(formatRecord(user)).toContain("user:alice/tab-1");
    const invalid: TimelineRecord = {
      seq: 7,
      session: "s1",
      subject: "tl.s1.out.agent.x",
      stored: new Date(ts),
      problem: "payload is not msgpack",
    };
    expect(formatRecord(invalid)).toMatch(/\(invalid\)\s+payload is not msgpack \[tl\.s1\.out\.agent\.x\]/);
    expect(recordJson(invalid)).toEqual({
      session: "s1",
      seq: 7,
      subject: "tl.s1.out.agent.x",
      stored: new Date(ts).toISOString(),
      problem: "payload is not msgpack",
    });
  });

  it("cuts long summaries to one line", () => {
    const line = formatRecord(record({ type: "note", data: { text: `${"x".repeat(200)}\nmore` } }));
    expect(line.endsWith("…")).toBe(true);
    expect(line).not.toContain("\n");
    expect(line.length).toBeLessThan(70 + SUMMARY_WIDTH);
  });
});

describe("summarize", () => {
  it.each([
    [{ type: "turn.start", data: { agent: "order", worker: "w1" } }, "agent order worker w1"],
    [{ type: "turn.end", data: { status: "failed", error: "boom" } }, "failed boom"],
    [
      { type: "progress", data: { step: "reserve", status: "done", label: "Reserve item" } },
      'reserve done "Reserve item"',
    ],
    [
      { type: "presence.leave", data: { kind: "user", id: "alice", reason: "closed", devices: [] } },
      "user:alice left (closed)",
    ],
    [
      { type: "presence.join", data: { kind: "agent", id: "a", status: "active", devices: [{}] } },
      "agent:a active (1 connection)",
    ],
    [
      { type: "message.start", data: { role: "assistant", author: { kind: "agent", id: "a" } } },
      "assistant by agent:a",
    ],
    [{ type: "custom.thing", data: { a: 1 } }, '{"a":1}'],
  ])("%o -> %s", (event, text) => {
    expect(summarize({ id: "e", from: { kind: "agent", id: "a" }, ts, ...event } as SessionEvent)).toBe(text);
  });
});
