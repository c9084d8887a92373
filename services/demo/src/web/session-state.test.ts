import type { SessionRecord } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { applyRecord, EMPTY_SESSION, type SessionState, TIMELINE_LIMIT } from "./session-state.ts";

let seq = 0;
function record(
  type: string,
  fields: { from?: string; turn?: string; data?: unknown; ts?: number } = {},
): SessionRecord {
  seq++;
  const [kind, id] = (fields.from ?? "agent:research").split(":") as [string, string];
  return {
    session: "s",
    seq,
    event: {
      id: `e${seq}`,
      type,
      from: { kind, id },
      ts: fields.ts ?? 0,
      ...(fields.turn ? { turn: fields.turn } : {}),
      ...(fields.data === undefined ? {} : { data: fields.data }),
    },
  } as SessionRecord;
}
const fold = (records: SessionRecord[], from: SessionState = EMPTY_SESSION) => records.reduce(applyRecord, from);

describe("session fold", () => {
  const stream = [
    record("input", { from: "user:alice", data: { text: "compare headphones" } }),
    record("turn.start", { turn: "t1", data: { agent: "research", worker: "w1", parent: "t0" } }),
    record("progress", { turn: "t1", data: { step: "search", status: "running", label: "Searching" } }),
    record("progress", { turn: "t1", data: { step: "compare", status: "running", label: "Comparing" } }),
    record("progress", { turn: "t1", data: { step: "search", status: "done", detail: "4 products" } }),
  ];

  it("folds progress by (turn, step): a later event replaces the step, keeping its label and place", () => {
    const state = fold(stream);
    expect(state.turns).toHaveLength(1);
    expect(state.turns[0]).toMatchObject({ id: "t1", agent: "research", parent: "t0", status: "running" });
    expect(state.turns[0]!.steps).toEqual([
      { step: "search", label: "Searching", status: "done", detail: "4 products" },
      { step: "compare", label: "Comparing", status: "running" },
    ]);
  });

  it("ignores records at or below the applied position (replay after a resume)", () => {
    const once = fold(stream);
    expect(fold(stream, once)).toBe(once);
  });

  it("a cancelled turn marks its still running steps skipped; a completed one keeps them", () => {
    const cancelled = fold([record("turn.end", { turn: "t1", data: { status: "cancelled" } })], fold(stream));
    expect(cancelled.turns[0]!.status).toBe("cancelled");
    expect(cancelled.turns[0]!.steps.map((s) => s.status)).toEqual(["done", "skipped"]);
    const completed = fold([record("turn.end", { turn: "t1", data: { status: "completed" } })], fold(stream));
    expect(completed.turns[0]!.steps.map((s) => s.status)).toEqual(["done", "running"]);
  });

  it("records every event in the timeline (seq, author, type), keeping the newest TIMELINE_LIMIT", () => {
    const state = fold(stream);
    expect(state.timeline.slice(0, 2).map((e) => [e.author, e.type, e.summary])).toEqual([
      ["user:alice", "input", "compare headphones"],
      ["agent:research", "turn.start", "research"],
    ]);
    const op = record("state", {
      data: { object: "agent-checklist", op: "set", path: ["items", 2, "status"], value: "done" },
    });
    expect(fold([op]).timeline[0]!.summary).toBe("agent-checklist set items.2.status");
    const many = fold(Array.from({ length: TIMELINE_LIMIT + 5 }, () => record("note")));
    expect(many.timeline).toHaveLength(TIMELINE_LIMIT);
    expect(many.timeline.at(-1)!.seq).toBe(many.lastSeq);
  });

  it("lists support desk conversations, newest first, remembering who asked for a human", () => {
    const state = fold([
      record("support.session", {
        from: "agent:triage",
        data: { session: "a", user: "alice", text: "a human please" },
      }),
      // The triage agent asked for a human (it stored a handoff request in session a).
      record("support.session", {
        from: "agent:triage",
        data: { session: "a", user: "alice", text: "a human please", wantsHuman: true },
      }),
      // Words alone do not flag a conversation: only the agent's request does.
      record("support.session", { from: "agent:triage", data: { session: "b", user: "bob", text: "hi, human?" } }),
      record("support.session", { from: "agent:triage", data: { session: "a", user: "alice", text: "thanks" } }),
    ]);
    expect(state.conversations.map((c) => [c.session, c.lastText, c.wantsHuman])).toEqual([
      ["a", "thanks", true],
      ["b", "hi, human?", false],
    ]);
  });

  // The console clears "asks for a human" once the session was handed back after this time.
  it("remembers when the newest request for a human was made", () => {
    const asked = (ts: number, wantsHuman?: boolean) =>
      record("support.session", {
        from: "agent:triage",
        ts,
        data: { session: "a", user: "alice", text: "x", ...(wantsHuman ? { wantsHuman } : {}) },
      });
    expect(fold([asked(100), asked(200, true), asked(300)]).conversations[0]?.askedAt).toBe(200);
    expect(fold([asked(200, true), asked(500, true)]).conversations[0]?.askedAt).toBe(500);
    expect(fold([asked(100)]).conversations[0]?.askedAt).toBeUndefined();
  });
});
