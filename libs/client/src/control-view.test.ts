import type { SessionEvent } from "@threadline/protocol";
import { describe, expect, test } from "vitest";
import { ControlView, MAX_ENDED_TURNS, MAX_OPEN_CALLS } from "./control-view.ts";

let seq = 0;
const user = { kind: "user" as const, id: "alice", device: "tab" };
const agent = { kind: "agent" as const, id: "w1" };
const operator = { kind: "operator" as const, id: "olivia" };

function apply(view: ControlView, event: Partial<SessionEvent> & { type: string }): void {
  view.apply({ session: "s", seq: ++seq, event: { id: `e${seq}`, from: agent, ts: 1000, ...event } });
}

describe("ControlView", () => {
  test("a turn goes pending → running → ended; its open calls close with it", () => {
    const view = new ControlView();
    const changes: (number | undefined)[] = [];
    view.onChange((c) => changes.push(c.seq));
    apply(view, { type: "input", id: "t1", from: user });
    expect(view.active).toMatchObject([{ id: "t1", status: "pending" }]);
    apply(view, { type: "turn.start", turn: "t1", data: { agent: "planner", worker: "w1" } });
    expect(view.turn("t1")).toMatchObject({ status: "running", agent: "planner", worker: "w1" });
    apply(view, {
      type: "tool.call",
      turn: "t1",
      ref: "c1",
      data: { call: "c1", name: "geo", args: { precise: true }, timeoutMs: 500 },
    });
    expect(view.calls).toEqual([
      { call: "c1", turn: "t1", kind: "tool", name: "geo", args: { precise: true }, deadline: 1500, seq },
    ]);
    apply(view, { type: "turn.end", turn: "t1", data: { status: "failed", error: "boom" } });
    expect(view.active).toEqual([]);
    expect(view.calls).toEqual([]);
    expect(view.turn("t1")).toMatchObject({ status: "failed", error: "boom" });
    // An ended turn stays ended.
    apply(view, { type: "turn.resumed", turn: "t1", data: { worker: "w2" } });
    expect(view.turn("t1")?.status).toBe("failed");
    expect(changes).toHaveLength(4);
  });

  test("a cancel of a pending turn ends it; of a running turn it waits for turn.end", () => {
    const view = new ControlView();
    apply(view, { type: "input", id: "t1", from: user });
    apply(view, { type: "input", id: "t2", from: user });
    apply(view, { type: "turn.start", turn: "t2", data: { agent: "a", worker: "w1" } });
    apply(view, { type: "cancel", turn: "t1", from: user, data: { reason: "stop" } });
    apply(view, { type: "cancel", turn: "t2", from: user });
    expect(view.turn("t1")).toMatchObject({ status: "cancelled", reason: "stop" });
    expect(view.active.map((t) => [t.id, t.status])).toEqual([["t2", "running"]]);
  });

  test("answers and call.closed remove prompts; unrelated events change nothing", () => {
    const view = new ControlView();
    apply(view, {
      type: "approval.request",
      turn: "t1",
      ref: "a1",
      data: { call: "a1", action: "pay", approvers: ["user"], timeoutMs: 1 },
    });
    apply(view, {
      type: "tool.call",
      turn: "t1",
      ref: "c1",
      data: { call: "c1", name: "geo", args: {}, timeoutMs: 1 },
    });
    expect(view.calls.map((c) => c.call)).toEqual(["a1", "c1"]);
    apply(view, { type: "approval", ref: "a1", from: user, data: { approved: true } });
    apply(view, { type: "call.closed", turn: "t1", ref: "c1", data: { call: "c1", reason: "timeout" } });
    expect(view.calls).toEqual([]);
    // Malformed agent events (here: no turn, a turn.end without a final status) change nothing.
    apply(view, { type: "tool.call", ref: "c9", data: { call: "c9", name: "geo", timeoutMs: 1 } });
    apply(view, { type: "turn.start", turn: "t1", data: { agent: "a" } });
    expect(view.calls).toEqual([]);
    expect(view.turn("t1")).toBeUndefined();
    const before = view.active;
    apply(view, { type: "message.append", ref: "m1", data: { part: 0, delta: "x" } });
    expect(view.active).toBe(before);
  });

  test("handoff: request, then an operator's take and release set the owner; a user's take is ignored", () => {
    const view = new ControlView();
    apply(view, { type: "handoff", from: user, data: { action: "request" } });
    expect(view.handoffRequested).toBe(true);
    apply(view, { type: "handoff", from: user, data: { action: "take" } });
    expect(view.owner).toBeNull();
    apply(view, { type: "handoff", from: operator, data: { action: "take" } });
    expect(view.owner).toEqual({ kind: "operator", id: "olivia" });
    expect(view.handoffRequested).toBe(false);
    // The agents stay silent while the operator owns the session: user input starts no turn.
    apply(view, { type: "input", id: "t-owned", from: user });
    expect(view.turn("t-owned")).toBeUndefined();
    apply(view, { type: "handoff", from: operator, data: { action: "release" } });
    expect(view.owner).toBeNull();
    apply(view, { type: "input", id: "t-back", from: user });
    expect(view.active.map((t) => t.id)).toEqual(["t-back"]);
  });

  test("the owner is seeded from the gateway once, unless a take/release event came first", async () => {
    const entry = { owner: { kind: "operator" as const, id: "olivia" }, by: operator, since: 1 };
    const seeded = new ControlView(async () => entry);
    const changes: (number | undefined)[] = [];
    seeded.onChange((c) => changes.push(c.seq));
    seeded.seedOwner();
    await new Promise((r) => setTimeout(r, 0));
    expect(seeded.owner).toEqual({ kind: "operator", id: "olivia" });
    expect(changes).toEqual([undefined]);

    let calls = 0;
    const failing = new ControlView(async () => {
      if (++calls === 1) throw new Error("gateway down");
      return entry;
    });
    failing.seedOwner();
    await new Promise((r) => setTimeout(r, 0));
    expect(failing.owner).toBeNull();
    failing.seedOwner(); // retried after the next sync
    await new Promise((r) => setTimeout(r, 0));
    expect(failing.owner).toEqual({ kind: "operator", id: "olivia" });
    expect(calls).toBe(2);

    let release: (v: typeof entry) => void = () => {};
    const late = new ControlView(() => new Promise((r) => (release = r)));
    late.seedOwner();
    apply(late, { type: "handoff", from: operator, data: { action: "release" } });
    release(entry); // an older snapshot: the event decides
    await new Promise((r) => setTimeout(r, 0));
    expect(late.owner).toBeNull();
  });

  test("ended turns and open calls are bounded, oldest forgotten first", () => {
    const view = new ControlView();
    for (let i = 0; i <= MAX_ENDED_TURNS; i++) {
      apply(view, { type: "turn.start", turn: `t${i}`, data: { agent: "a", worker: "w1" } });
      apply(view, { type: "turn.end", turn: `t${i}`, data: { status: "completed" } });
    }
    expect(view.turn("t0")).toBeUndefined();
    expect(view.turn(`t${MAX_ENDED_TURNS}`)?.status).toBe("completed");
    for (let i = 0; i <= MAX_OPEN_CALLS; i++) {
      apply(view, { type: "tool.call", turn: "x", ref: `c${i}`, data: { call: `c${i}`, name: "n", timeoutMs: 1 } });
    }
    expect(view.calls).toHaveLength(MAX_OPEN_CALLS);
    expect(view.calls[0]?.call).toBe("c1");
  });
});
