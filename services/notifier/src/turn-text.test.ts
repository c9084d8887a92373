import type { MessageRecord, SessionEvent } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { lastTurnText } from "./turn-text.ts";

let seq = 0;
const ev = (type: string, ref: string, data: unknown, turn = "t1"): MessageRecord => ({
  seq: ++seq,
  event: { id: `e${seq}`, type, ref, turn, ts: 0, from: { kind: "agent", id: "bot" }, data } as SessionEvent,
});
const message = (id: string, deltas: string[], turn = "t1", role = "assistant"): MessageRecord[] => [
  ev("message.start", id, { id, role }, turn),
  ...deltas.map((delta) => ev("message.append", id, { part: 0, delta }, turn)),
  ev("message.end", id, { status: "complete" }, turn),
];

describe("lastTurnText", () => {
  it("the turn's last assistant message with text, streamed in deltas", () => {
    const records = [...message("m1", ["First ", "answer"]), ...message("m2", ["The ", "final ", "answer."])];
    expect(lastTurnText(records, "t1")).toBe("The final answer.");
  });

  it("skips other turns, and a last message without text (a tool part only)", () => {
    const records = [
      ...message("m1", ["Kept"]),
      ...message("m9", ["other turn"], "t2"),
      ev("message.start", "m3", { id: "m3", role: "assistant" }),
      ev("message.part", "m3", { part: 0, value: { type: "tool-search", toolCallId: "x", state: "output-available" } }),
      ev("message.end", "m3", { status: "complete" }),
    ];
    expect(lastTurnText(records, "t1")).toBe("Kept");
  });

  it("a message.update replaces the text; no message at all → undefined", () => {
    const records = [
      ...message("m1", ["draft"]),
      ev("message.update", "m1", {
        parts: [
          { type: "text", text: "clean" },
          { type: "text", text: "two" },
        ],
      }),
    ];
    expect(lastTurnText(records, "t1")).toBe("clean\ntwo");
    expect(lastTurnText([], "t1")).toBeUndefined();
  });
});
