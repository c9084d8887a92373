import { ErrorCode, isTurnId, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { fakeSession } from "../test-support/fake-session.ts";
import { TurnTracker, userMessagesOnly } from "./turn-tracker.ts";

const start = (id: string, turn: string) => ({
  type: "message.start",
  ref: id,
  turn,
  data: { id, role: "assistant" },
});
const append = (id: string, turn: string, delta: string, part = 0) => ({
  type: "message.append",
  ref: id,
  turn,
  data: { part, delta },
});

describe("TurnTracker", () => {
  it("groups a root turn's messages with those of its delegated sub-turns and ends with the root's turn.end", () => {
    const { session, emit } = fakeSession();
    const tracker = new TurnTracker(session);
    const changes: string[] = [];
    tracker.onChange("root", () => changes.push("root"));

    emit({ type: "input", id: "root", from: { kind: "user", id: "alice" }, data: { text: "plan a trip" } });
    emit({ type: "turn.start", turn: "root", ref: "root", data: { agent: "planner", worker: "w1" } });
    emit(start("m1", "root"));
    emit(append("m1", "root", "Asking the flights agent. "));
    emit({
      type: "turn.request",
      id: "sub",
      turn: "sub",
      data: { agent: "flights", parent: "root", ancestors: ["root"] },
    });
    emit({ type: "turn.start", turn: "sub", ref: "sub", data: { agent: "flights", worker: "w2", parent: "root" } });
    emit(start("m2", "sub"));
    emit(append("m2", "sub", "Found 3 flights."));
    emit({ type: "message.end", ref: "m2", turn: "sub", data: { status: "complete" } });
    emit({ type: "turn.end", turn: "sub", data: { status: "completed" } });
    expect(tracker.view("root").outcome).toBeUndefined();
    expect(tracker.inFlight()).toBe("root");
    emit({ type: "message.end", ref: "m1", turn: "root", data: { status: "complete" } });
    emit({ type: "turn.end", turn: "root", data: { status: "completed" } });

    const view = tracker.view("root");
    expect(view.messages.map((m) => m.id)).toEqual(["m1", "m2"]);
    expect(view.outcome).toEqual({ status: "completed" });
    expect(tracker.rootOf("sub")).toBe("root");
    expect(tracker.inFlight()).toBeUndefined();
    // Every event of the tree notified the root's listeners (input, starts, messages, request, ends).
    expect(changes).toHaveLength(12);
  });

  it("a turn written without turn.start (no worker pool) ends when its messages ended, with their status", () => {
    const { session, emit } = fakeSession();
    const tracker = new TurnTracker(session);
    emit({ type: "input", id: "t1", from: { kind: "user", id: "alice" }, data: { text: "hi" } });
    emit(start("m1", "t1"));
    expect(tracker.inFlight()).toBe("t1");
    emit({ type: "message.end", ref: "m1", turn: "t1", data: { status: "error", error: "model overloaded" } });
    expect(tracker.view("t1").outcome).toEqual({ status: "failed", error: "model overloaded" });
    expect(tracker.inFlight()).toBeUndefined();
  });

  it("bad message events are rejected by the protocol reducer and leave the view and the turns unchanged", () => {
    const { session, emit } = fakeSession();
    const tracker = new TurnTracker(session);
    const changes: number[] = [];
    tracker.onChange("t1", () => changes.push(1));
    emit({ type: "input", id: "t1", from: { kind: "user", id: "alice" }, data: { text: "hi" } });
    emit(start("m1", "t1"));
    emit(append("m1", "t1", "ok"));
    const before = changes.length;
    emit(append("m1", "t1", "gap", 5));
    emit(append("nope", "t1", "unknown message"));
    emit({ type: "message.end", ref: "m1", turn: "t1", data: { status: "complete" } });
    emit(append("m1", "t1", "after end"));
    expect(changes.length).toBe(before + 1);
    expect(tracker.view("t1").messages[0]?.parts).toEqual([{ type: "text", text: "ok", state: "done" }]);
    expect(tracker.messages.map((m) => [m.id, m.role])).toEqual([
      ["t1", "user"],
      ["m1", "assistant"],
    ]);
  });

  it("reports terminal session errors (the attachment ended), not retryable ones", () => {
    const { session, fail } = fakeSession();
    const tracker = new TurnTracker(session);
    const failures: string[] = [];
    tracker.onFailure((error) => failures.push(error.code));
    fail(new ThreadlineError(ErrorCode.UNAVAILABLE, "gateway draining", { retryable: true }));
    fail(new ThreadlineError(ErrorCode.FORBIDDEN, "grant revoked", { retryable: false }));
    expect(failures).toEqual([ErrorCode.FORBIDDEN]);
    tracker.close();
    fail(new ThreadlineError(ErrorCode.FORBIDDEN, "after close", { retryable: false }));
    expect(failures).toHaveLength(1);
  });

  it("startTurn takes the wanted id when it is a new turn id, otherwise a fresh one, and tracks the turn in flight", () => {
    const { session, emit } = fakeSession();
    const tracker = new TurnTracker(session);
    emit({ type: "input", id: "seen", from: { kind: "user", id: "alice" }, data: { text: "hi" } });

    expect(tracker.startTurn("msg-1")).toBe("msg-1");
    expect(tracker.inFlight()).toBe("msg-1");
    for (const wanted of ["seen", "msg-1", "not a token", undefined]) {
      const turn = tracker.startTurn(wanted);
      expect(turn).not.toBe(wanted);
      expect(isTurnId(turn)).toBe(true);
      expect(tracker.inFlight()).toBe(turn);
    }
  });

  it("userMessagesOnly: INVALID_FRAME naming the adapter and the events to answer with", () => {
    const error = userMessagesOnly("threadlineConnection", "s1");
    expect(error).toMatchObject({ code: ErrorCode.INVALID_FRAME, session: "s1" });
    expect(error.message).toMatch(/^threadlineConnection sends user messages only; .*session\.answerTool/);
  });
});
