import { createClient, type SessionHandle } from "@threadline/client";
import { ThreadlineError } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { ControlKv, storedEvents } from "./support/control-kv.ts";
import { type Stack, startStack } from "./support/stack.ts";

async function attach(stack: Stack, session: string, sub: string, device: string, role: "user" | "operator" = "user") {
  const client = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub, role }),
    device,
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  onTestFinished(() => client.close());
  return client.attach(session, { from: "start" });
}

async function rejection(promise: Promise<unknown>): Promise<ThreadlineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ThreadlineError);
  return error as ThreadlineError;
}

/** Waits until the handle has applied the event stored at `seq`. */
const applied = (s: SessionHandle, seq: number) => waitFor(() => (s.position?.seq ?? 0) >= seq);

test("client SDK: cancel, steer, answerTool, approve, handoff resolve with the stored position or the typed error; session.control follows", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const kv = await ControlKv.open(stack.nc);
  const id = "ctl-client";
  const a = await attach(stack, id, "alice", "tab-a");
  const b = await attach(stack, id, "alice", "tab-b");
  const op = await attach(stack, id, "olivia", "desk", "operator");

  // Input → a pending turn (turn id = input id); the worker's turn.start makes it running.
  const { id: turn, seq: inputSeq } = await a.publish({ type: "input", data: { text: "find flights" } });
  await applied(b, inputSeq);
  expect(b.control.active).toMatchObject([{ id: turn, status: "pending", seq: inputSeq }]);
  await kv.putTurn(id, turn, { status: "running" });
  const started = await stack.agent.publish(id, {
    type: "turn.start",
    turn,
    ref: turn,
    data: { agent: "planner", worker: "test-agent" },
  });
  await applied(b, started.seq);
  expect(b.control.turn(turn)).toMatchObject({ status: "running", agent: "planner", worker: "test-agent" });

  // A client tool call: both tabs see the prompt; the first answer wins, the second is refused.
  await kv.putCall(id, "geo1", { turn, kind: "tool" });
  const call = await stack.agent.publish(id, {
    type: "tool.call",
    turn,
    ref: "geo1",
    data: { call: "geo1", name: "geolocation", args: {}, timeoutMs: 30_000 },
  });
  await applied(a, call.seq);
  await applied(b, call.seq);
  expect(a.control.calls).toMatchObject([{ call: "geo1", turn, kind: "tool", name: "geolocation" }]);
  const answer = await a.answerTool("geo1", { result: { lat: 48.1, lon: 11.6 } });
  expect(answer).toMatchObject({ duplicate: false });
  expect((await rejection(b.answerTool("geo1", { error: "denied" }))).code).toBe("CALL_ALREADY_ANSWERED");
  await applied(b, answer.seq);
  expect(b.control.calls).toEqual([]);

  // An approval only operators may give.
  await kv.putCall(id, "pay1", { turn, kind: "approval", approvers: ["operator"] });
  const request = await stack.agent.publish(id, {
    type: "approval.request",
    turn,
    ref: "pay1",
    data: { call: "pay1", action: "book flight", approvers: ["operator"], timeoutMs: 30_000 },
  });
  await applied(a, request.seq);
  expect(a.control.calls).toMatchObject([{ call: "pay1", kind: "approval", approvers: ["operator"] }]);
  expect((await rejection(a.approve("pay1", true))).code).toBe("FORBIDDEN");
  await op.approve("pay1", true, "within budget");

  // Steer and stop from tab B reach the session from B's device.
  await b.steer(turn, "only direct flights");
  const cancel = await b.cancel(turn, "stop");
  await applied(a, cancel.seq);
  const stored = await storedEvents(stack.agent, id);
  expect(stored.filter((e) => e.type === "steer" || e.type === "cancel").map((e) => [e.type, e.from.device])).toEqual([
    ["steer", "tab-b"],
    ["cancel", "tab-b"],
  ]);
  expect((await rejection(b.cancel("no-such-turn"))).code).toBe("TURN_NOT_FOUND");
  // Malformed control events fail before sending.
  expect((await rejection(b.cancel("not.a.token"))).code).toBe("INVALID_FRAME");
  expect((await rejection(a.publish({ type: "input", id: "has:colon", data: { text: "x" } }))).code).toBe(
    "INVALID_FRAME",
  );

  // The worker ends the turn (final status in the bucket, then turn.end).
  await kv.putTurn(id, turn, { status: "cancelled" });
  const end = await stack.agent.publish(id, { type: "turn.end", turn, data: { status: "cancelled", reason: "stop" } });
  await applied(a, end.seq);
  expect(a.control.active).toEqual([]);
  expect(a.control.turn(turn)).toMatchObject({ status: "cancelled", reason: "stop" });
  expect((await rejection(b.steer(turn, "too late"))).code).toBe("TURN_ENDED");

  // Handoff: a user asks, the operator takes over and releases; every participant sees the owner.
  expect((await rejection(a.handoff("take"))).code).toBe("FORBIDDEN");
  const asked = await a.handoff("request", "I want a human");
  await applied(op, asked.seq);
  expect(op.control.handoffRequested).toBe(true);
  const take = await op.handoff("take");
  await applied(a, take.seq);
  expect(a.control.owner).toEqual({ kind: "operator", id: "olivia" });
  expect(a.control.handoffRequested).toBe(false);
  expect((await kv.owner(id))?.owner).toEqual({ kind: "operator", id: "olivia" });
  const release = await op.handoff("release");
  await applied(b, release.seq);
  expect(b.control.owner).toBeNull();
});
