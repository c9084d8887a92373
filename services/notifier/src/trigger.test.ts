import { encodeMsgpack, Subjects } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { classifyTrigger } from "./trigger.ts";

const subjects = new Subjects("tl");

function stored(subject: string, event: Record<string, unknown>, seq = 7) {
  const [, , , kind = "agent", id = "bot"] = subject.split(".");
  const envelope = { id: "e1", ts: 1, from: { kind, id }, ...event };
  return { seq, subject, data: encodeMsgpack(envelope), storedAt: 1_000 };
}

const out = "tl.s1.out.agent.bot";
const call = (type: string, data: Record<string, unknown>) => ({
  type,
  turn: "t1",
  ref: "c1",
  data: { call: "c1", timeoutMs: 60_000, ...data },
});

describe("classifyTrigger", () => {
  it.each([
    [
      "turn.end completed",
      out,
      { type: "turn.end", turn: "t1", data: { status: "completed" } },
      { kind: "turn.end", status: "completed", turn: "t1" },
    ],
    [
      "turn.end failed",
      out,
      { type: "turn.end", turn: "t1", data: { status: "failed", error: "boom" } },
      { kind: "turn.end", status: "failed" },
    ],
    [
      "turn.end interrupted",
      out,
      { type: "turn.end", turn: "t1", data: { status: "interrupted" } },
      { kind: "turn.end", status: "interrupted" },
    ],
    [
      "turn.end cancelled (a person did that)",
      out,
      { type: "turn.end", turn: "t1", data: { status: "cancelled" } },
      undefined,
    ],
    [
      "approval for users",
      out,
      call("approval.request", { action: "Refund 20 EUR", approvers: ["user", "operator"] }),
      { kind: "approval", call: "c1", deadline: 61_000, text: "Refund 20 EUR" },
    ],
    ["approval for operators only", out, call("approval.request", { action: "x", approvers: ["operator"] }), undefined],
    [
      "approval without approvers (user and operator)",
      out,
      call("approval.request", { action: "x" }),
      { kind: "approval" },
    ],
    [
      "tool.call",
      out,
      call("tool.call", { name: "geolocation", args: {} }),
      { kind: "tool.call", text: "geolocation", call: "c1" },
    ],
    [
      "a tool.call whose ref is not its call (invalid)",
      out,
      { ...call("tool.call", { name: "x", args: {} }), ref: "c2" },
      undefined,
    ],
    ["message.append", out, { type: "message.append", ref: "m1", data: { part: 0, delta: "hi" } }, undefined],
    [
      "operator input",
      "tl.s1.in.operator.op1",
      { type: "input", data: { text: "Hello, how can I help?" } },
      { kind: "operator.message", text: "Hello, how can I help?" },
    ],
    [
      "operator input with parts",
      "tl.s1.in.operator.op1",
      {
        type: "input",
        data: {
          parts: [
            { type: "text", text: "a" },
            { type: "file", url: "u" },
            { type: "text", text: "b" },
          ],
        },
      },
      { kind: "operator.message", text: "a b" },
    ],
    ["user input", "tl.s1.in.user.u1", { type: "input", data: { text: "hi" } }, undefined],
    [
      "an agent's turn.request",
      "tl.s1.in.agent.bot",
      { type: "turn.request", id: "t2", turn: "t2", data: {} },
      undefined,
    ],
    ["operator control event", "tl.s1.ctl.operator.op1", { type: "handoff", data: { action: "take" } }, undefined],
  ])("%s", (_name, subject, event, expected) => {
    const trigger = classifyTrigger(subjects, stored(subject, event));
    if (expected === undefined) expect(trigger).toBeUndefined();
    else expect(trigger).toMatchObject({ session: "s1", seq: 7, ts: 1_000, eventId: "e1", ...expected });
  });

  it("a payload that is not an envelope, or a foreign subject, is no trigger", () => {
    expect(
      classifyTrigger(subjects, { seq: 1, subject: out, data: new Uint8Array([1, 2]), storedAt: 1 }),
    ).toBeUndefined();
    expect(
      classifyTrigger(
        subjects,
        stored("other.s1.out.agent.bot", { type: "turn.end", turn: "t", data: { status: "failed" } }),
      ),
    ).toBeUndefined();
  });
});
