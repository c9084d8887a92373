import type { SessionEvent, SessionRecord } from "@threadline/protocol";
import { describe, expect, test } from "vitest";
import { MessageView, type MessageViewChange } from "./message-view.ts";

const agent = { kind: "agent" as const, id: "a1" };
let seq = 0;
const rec = (type: string, fields: Partial<SessionEvent> = {}): SessionRecord => ({
  session: "s",
  seq: ++seq,
  event: { id: `e${seq}`, type, from: agent, ts: 0, ...fields },
});

describe("MessageView", () => {
  test("notifies applied changes with a new array each time; ignores other and rejected events", () => {
    const view = new MessageView();
    const changes: MessageViewChange[] = [];
    view.onChange((c) => changes.push(c));
    view.apply(rec("input", { from: { kind: "user", id: "u1" }, data: { text: "hi" } }));
    view.apply(rec("message.start", { ref: "m1", data: { id: "m1", role: "assistant" } }));
    const before = view.messages;
    view.apply(rec("message.append", { ref: "m1", data: { part: 0, delta: "hel" } }));
    view.apply(rec("progress", { data: {} }));
    view.apply(rec("message.append", { ref: "nope", data: { part: 0, delta: "x" } }));
    view.apply(rec("message.append", { ref: "m1", data: { part: 0, delta: "lo" } }));
    view.apply(
      rec("message.snapshot", {
        ref: "m2",
        data: { id: "m2", role: "assistant", author: agent, parts: [], status: "complete" },
      }),
    );
    expect(changes.map((c) => [c.message.id, c.seq])).toEqual([
      ["e1", 1],
      ["m1", 2],
      ["m1", 3],
      ["m1", 6],
      ["m2", 7],
    ]);
    expect(before).not.toBe(view.messages);
    expect(before[1]!.parts).toEqual([]);
    expect(view.get("m1")!.parts).toEqual([{ type: "text", text: "hello", state: "streaming" }]);
    expect(view.messages.map((m) => m.id)).toEqual(["e1", "m1", "m2"]);
    expect(view.rejected.unknown_message).toBe(1);
    expect(changes.at(-1)!.messages).toBe(view.messages);
  });

  test("unsubscribe stops notifications", () => {
    const view = new MessageView();
    let calls = 0;
    const off = view.onChange(() => calls++);
    view.apply(rec("message.start", { ref: "x1", data: { id: "x1", role: "assistant" } }));
    off();
    view.apply(rec("message.end", { ref: "x1", data: { status: "cancelled" } }));
    expect(calls).toBe(1);
    expect(view.get("x1")!.status).toBe("cancelled");
  });
});
