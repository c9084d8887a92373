import { describe, expect, test } from "vitest";
import {
  controlCallEntryProblem,
  controlCallKey,
  controlEventProblem,
  controlOwnerEntryProblem,
  controlOwnerKey,
  controlTurnEntryProblem,
  controlTurnKey,
  isFinalTurnStatus,
  isTurnId,
  MAX_TURN_DEPTH,
  mayAnswerCall,
  parseControlKey,
  turnEventProblem,
} from "./turns.ts";

describe("control bucket keys", () => {
  test("keys round-trip", () => {
    expect(controlTurnKey("s1", "t-1")).toBe("s1.turn.t-1");
    expect(controlCallKey("s1", "c_1")).toBe("s1.call.c_1");
    expect(controlOwnerKey("s1")).toBe("s1.owner");
    expect(parseControlKey("s1.turn.t-1")).toEqual({ session: "s1", kind: "turn", turn: "t-1" });
    expect(parseControlKey("s1.call.c_1")).toEqual({ session: "s1", kind: "call", call: "c_1" });
    expect(parseControlKey("s1.owner")).toEqual({ session: "s1", kind: "owner" });
  });

  test("bad tokens are refused", () => {
    expect(() => controlTurnKey("s1", "a.b")).toThrow(TypeError);
    expect(() => controlTurnKey("s 1", "t")).toThrow(TypeError);
    expect(() => controlCallKey("s1", "x".repeat(65))).toThrow(TypeError);
    expect(() => controlOwnerKey("")).toThrow(TypeError);
    expect(parseControlKey("s1.turn")).toBeUndefined();
    expect(parseControlKey("s1.other.x")).toBeUndefined();
    expect(parseControlKey("s1.turn.a*b")).toBeUndefined();
    expect(parseControlKey("s1.owner.x")).toBeUndefined();
  });

  test("turn ids are tokens", () => {
    expect(isTurnId("lq1a2b3c4d")).toBe(true);
    expect(isTurnId("has:colon")).toBe(false);
    expect(isTurnId("")).toBe(false);
    expect(isFinalTurnStatus("completed")).toBe(true);
    expect(isFinalTurnStatus("running")).toBe(false);
  });
});

describe("client control events", () => {
  test("well-formed events pass", () => {
    expect(controlEventProblem("input", { id: "abc_1" })).toBeUndefined();
    expect(controlEventProblem("cancel", { turn: "t1" })).toBeUndefined();
    expect(controlEventProblem("cancel", { turn: "t1", data: { reason: "user" } })).toBeUndefined();
    expect(controlEventProblem("steer", { turn: "t1", data: { text: "shorter" } })).toBeUndefined();
    expect(controlEventProblem("tool.result", { ref: "c1", data: { result: null } })).toBeUndefined();
    expect(controlEventProblem("tool.result", { ref: "c1", data: { error: "denied" } })).toBeUndefined();
    expect(controlEventProblem("approval", { ref: "c1", data: { approved: false, reason: "no" } })).toBeUndefined();
    expect(controlEventProblem("handoff", { data: { action: "take" } })).toBeUndefined();
    expect(controlEventProblem("message.append", {})).toBeUndefined();
  });

  test("malformed events name their problem", () => {
    expect(controlEventProblem("input", { id: "a.b" })).toMatch(/turn ids/);
    expect(controlEventProblem("cancel", {})).toMatch(/turn/);
    expect(controlEventProblem("cancel", { turn: "t1", data: "x" })).toMatch(/object/);
    expect(controlEventProblem("cancel", { turn: "t1", data: { reason: 5 } })).toMatch(/reason/);
    expect(controlEventProblem("steer", { turn: "t1", data: { text: "" } })).toMatch(/text/);
    expect(controlEventProblem("tool.result", { data: { result: 1 } })).toMatch(/ref/);
    expect(controlEventProblem("tool.result", { ref: "c1", data: {} })).toMatch(/exactly one/);
    expect(controlEventProblem("tool.result", { ref: "c1", data: { result: 1, error: "x" } })).toMatch(/exactly one/);
    expect(controlEventProblem("tool.result", { ref: "c1", data: { error: 1 } })).toMatch(/string/);
    expect(controlEventProblem("approval", { ref: "c1", data: { approved: "yes" } })).toMatch(/approved/);
    expect(controlEventProblem("handoff", { data: { action: "steal" } })).toMatch(/action/);
  });
});

describe("agent turn events", () => {
  test("well-formed events pass", () => {
    expect(turnEventProblem("turn.start", { turn: "t1", data: { agent: "a", worker: "w" } })).toBeUndefined();
    expect(turnEventProblem("turn.end", { turn: "t1", data: { status: "cancelled", reason: "user" } })).toBeUndefined();
    expect(
      turnEventProblem("turn.resumed", {
        turn: "t1",
        data: { agent: "a", worker: "w2", previousWorker: "w1", reason: "crashed", attempt: 1 },
      }),
    ).toBeUndefined();
    expect(
      turnEventProblem("turn.request", {
        id: "t2",
        turn: "t2",
        data: { agent: "search", parent: "t1", ancestors: ["t1"], input: { text: "x" } },
      }),
    ).toBeUndefined();
    expect(turnEventProblem("progress", { turn: "t1", data: { step: "s", status: "done" } })).toBeUndefined();
    expect(
      turnEventProblem("tool.call", {
        turn: "t1",
        ref: "c1",
        data: { call: "c1", name: "geo", args: {}, timeoutMs: 5 },
      }),
    ).toBeUndefined();
    expect(
      turnEventProblem("approval.request", {
        turn: "t1",
        ref: "c1",
        data: { call: "c1", action: "pay", approvers: ["user"], timeoutMs: 5 },
      }),
    ).toBeUndefined();
    expect(
      turnEventProblem("call.closed", { turn: "t1", ref: "c1", data: { call: "c1", reason: "timeout" } }),
    ).toBeUndefined();
  });

  test("malformed events name their problem", () => {
    expect(turnEventProblem("turn.start", { data: { agent: "a", worker: "w" } })).toMatch(/turn/);
    expect(turnEventProblem("turn.end", { turn: "t1", data: { status: "running" } })).toMatch(/status/);
    expect(
      turnEventProblem("turn.request", {
        id: "t2",
        turn: "t2",
        data: { agent: "a", parent: "t1", ancestors: Array(MAX_TURN_DEPTH + 1).fill("t"), input: {} },
      }),
    ).toMatch(/ancestors/);
    expect(
      turnEventProblem("turn.request", { id: "x", turn: "t2", data: { agent: "a", parent: "t1", ancestors: [] } }),
    ).toMatch(/equal/);
    expect(
      turnEventProblem("tool.call", { turn: "t1", ref: "c2", data: { call: "c1", name: "g", timeoutMs: 5 } }),
    ).toMatch(/ref/);
    expect(
      turnEventProblem("approval.request", {
        turn: "t1",
        ref: "c1",
        data: { call: "c1", action: "pay", approvers: ["agent"], timeoutMs: 5 },
      }),
    ).toMatch(/approvers/);
    expect(turnEventProblem("progress", { turn: "t1", data: { step: "s", status: "ok" } })).toMatch(/status/);
  });
});

describe("control bucket entries", () => {
  test("turn, call and owner entries are validated", () => {
    expect(controlTurnEntryProblem({ status: "pending", updatedAt: 1 })).toBeUndefined();
    expect(controlTurnEntryProblem({ status: "paused", updatedAt: 1 })).toMatch(/status/);
    expect(controlTurnEntryProblem(null)).toMatch(/object/);
    const call = { kind: "approval", turn: "t1", status: "pending", approvers: ["operator"], deadline: 5 };
    expect(controlCallEntryProblem(call)).toBeUndefined();
    expect(controlCallEntryProblem({ ...call, status: "done" })).toMatch(/status/);
    expect(controlCallEntryProblem({ ...call, approvers: [] })).toMatch(/approvers/);
    const owner = { owner: { kind: "operator", id: "op1" }, by: { kind: "operator", id: "op1" }, since: 1 };
    expect(controlOwnerEntryProblem(owner)).toBeUndefined();
    expect(controlOwnerEntryProblem({ ...owner, owner: null })).toBeUndefined();
    expect(controlOwnerEntryProblem({ ...owner, owner: { kind: "user", id: "u" } })).toMatch(/owner/);
  });

  test("who may answer a call", () => {
    expect(mayAnswerCall("user", { kind: "tool" })).toBe(true);
    expect(mayAnswerCall("agent", { kind: "tool" })).toBe(false);
    expect(mayAnswerCall("user", { kind: "approval", approvers: ["operator"] })).toBe(false);
    expect(mayAnswerCall("operator", { kind: "approval", approvers: ["operator"] })).toBe(true);
    expect(mayAnswerCall("operator", { kind: "approval" })).toBe(true);
  });
});
