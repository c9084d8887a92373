import type { SessionRecord } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { applyRecord, EMPTY_SESSION, runningTurns, type SessionState, TIMELINE_LIMIT } from "./session-state.ts";

let seq = 0;
function record(
  type: string,
  fields: { from?: string; turn?: string; ref?: string; data?: unknown; id?: string } = {},
) {
  seq++;
  const [kind, id] = (fields.from ?? "agent:research").split(":") as [string, string];
  return {
    session: "s",
    seq,
    event: {
      id: fields.id ?? `e${seq}`,
      type,
      from: { kind, id },
      ts: 0,
      ...(fields.turn ? { turn: fields.turn } : {}),
      ...(fields.ref ? { ref: fields.ref } : {}),
      ...(fields.data === undefined ? {} : { data: fields.data }),
    },
  } as SessionRecord;
}
const fold = (records: SessionRecord[], from: SessionState = EMPTY_SESSION) => records.reduce(applyRecord, from);

describe("session state", () => {
  const input = record("input", { from: "user:alice", id: "t1", data: { text: "compare headphones" } });
  const stream = [
    input,
    record("turn.start", { turn: "t1", ref: "t1", data: { agent: "research", worker: "w1" } }),
    record("progress", { turn: "t1", data: { step: "search", status: "running", label: "Searching" } }),
    record("message.start", {
      turn: "t1",
      ref: "m1",
      data: { id: "m1", role: "assistant", author: { kind: "agent", id: "research", name: "Research" } },
    }),
    record("message.append", { turn: "t1", ref: "m1", data: { part: 0, delta: "Hello " } }),
    record("progress", { turn: "t1", data: { step: "search", status: "done", detail: "4 products" } }),
    record("message.append", { turn: "t1", ref: "m1", data: { part: 0, delta: "there" } }),
  ];

  it("builds messages, turns and folded progress steps", () => {
    const state = fold(stream);
    expect(state.messages.map((m) => [m.role, m.author.id, m.text, m.status])).toEqual([
      ["user", "alice", "compare headphones", "complete"],
      ["assistant", "research", "Hello there", "streaming"],
    ]);
    expect(state.turns).toHaveLength(1);
    expect(state.turns[0]!.steps).toEqual([
      { step: "search", label: "Searching", status: "done", detail: "4 products" },
    ]);
    expect(runningTurns(state).map((t) => t.id)).toEqual(["t1"]);
  });

  it("ignores records at or below the applied position (replay after a resume)", () => {
    const once = fold(stream);
    const twice = fold(stream, once);
    expect(twice).toBe(once);
    expect(twice.messages[1]!.text).toBe("Hello there");
  });

  it("a cancelled turn ends its running steps and its message as cancelled", () => {
    const state = fold(
      [
        record("progress", { turn: "t1", data: { step: "reviews", status: "running" } }),
        record("message.end", { turn: "t1", ref: "m1", data: { status: "cancelled" } }),
        record("turn.end", { turn: "t1", data: { status: "cancelled" } }),
      ],
      fold(stream),
    );
    expect(state.messages[1]!.status).toBe("cancelled");
    expect(state.turns[0]!.status).toBe("cancelled");
    expect(state.turns[0]!.steps.find((s) => s.step === "reviews")!.status).toBe("skipped");
    expect(runningTurns(state)).toEqual([]);
  });

  it("a message snapshot (compact catch-up) stands for the whole message", () => {
    const state = fold([
      record("message.snapshot", {
        ref: "m9",
        data: {
          id: "m9",
          role: "assistant",
          author: { kind: "agent", id: "orders" },
          parts: [{ type: "text", text: "Done." }],
          status: "complete",
        },
      }),
    ]);
    expect(state.messages).toMatchObject([{ id: "m9", text: "Done.", status: "complete", author: { id: "orders" } }]);
  });

  it("follows the owner through handoff events; only operators take or release", () => {
    let state = fold([record("handoff", { from: "user:alice", data: { action: "request" } })]);
    expect(state.humanRequested).toBe(true);
    state = fold([record("handoff", { from: "user:alice", data: { action: "take" } })], state);
    expect(state.owner).toBeNull();
    state = fold([record("handoff", { from: "operator:olga", data: { action: "take" } })], state);
    expect(state.owner).toEqual({ kind: "operator", id: "olga" });
    expect(state.humanRequested).toBe(false);
    state = fold([record("handoff", { from: "operator:olga", data: { action: "release" } })], state);
    expect(state.owner).toBeNull();
  });

  it("tracks open client tool calls until they are answered or closed", () => {
    let state = fold([
      record("tool.call", { turn: "t1", ref: "c1", data: { call: "c1", name: "geolocation", args: {} } }),
    ]);
    expect(state.toolCalls.map((c) => c.call)).toEqual(["c1"]);
    state = fold([record("call.closed", { turn: "t1", ref: "c1", data: { call: "c1", reason: "answered" } })], state);
    expect(state.toolCalls).toEqual([]);
  });

  it("keeps the newest TIMELINE_LIMIT events in the timeline", () => {
    const many = Array.from({ length: TIMELINE_LIMIT + 5 }, () => record("note"));
    const state = fold(many);
    expect(state.timeline).toHaveLength(TIMELINE_LIMIT);
    expect(state.timeline.at(-1)!.seq).toBe(many.at(-1)!.seq);
  });

  it("lists support desk conversations, newest first, remembering who asked for a human", () => {
    const state = fold([
      record("support.session", {
        from: "agent:triage",
        data: { session: "a", user: "alice", text: "a human please" },
      }),
      record("support.session", { from: "agent:triage", data: { session: "b", user: "bob", text: "hi" } }),
      record("support.session", { from: "agent:triage", data: { session: "a", user: "alice", text: "thanks" } }),
    ]);
    expect(state.conversations.map((c) => [c.session, c.lastText, c.wantsHuman])).toEqual([
      ["a", "thanks", true],
      ["b", "hi", false],
    ]);
  });
});
