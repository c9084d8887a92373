import { Kvm } from "@nats-io/kv";
import { waitFor } from "@threadline/test-kit";
import { expect, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { deviceClient, sessionLog } from "./support/control-agent.ts";
import { serveScripted } from "./support/scripted-pool.ts";
import { testStack } from "./support/stack.ts";

test("handoff to an operator and back: the entry pool stays silent while the operator owns the session", async () => {
  const stack = await testStack();
  const server = await serveScripted(stack);
  const user = await deviceClient(stack, "alice", "tab").attach("handoff1", { from: "start" });
  const operator = await deviceClient(stack, "olga", "console", { role: "operator" }).attach("handoff1", {
    from: "start",
  });
  const log = sessionLog(user);
  const operatorLog = sessionLog(operator);
  const kv = await new Kvm(stack.nc).open("threadline-control");
  const consumerAcked = async (seq: number) => {
    const info = await connectionOf(stack.agent).jsm.consumers.info(stack.agent.info.stream, "pool-assistant");
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  };

  // Agents own the session: input is answered.
  const { id: before } = await user.publish({ type: "input", data: { text: "stream 3" } });
  expect((await log.next((r) => r.event.type === "turn.end" && r.event.turn === before)).event.data).toEqual({
    status: "completed",
  });

  // The operator takes over; every participant sees the handoff event and the owner entry names the operator.
  await operator.publish({ type: "handoff", data: { action: "take", reason: "billing question" } });
  const take = await log.next((r) => r.event.type === "handoff");
  expect(take.event.from).toMatchObject({ kind: "operator", id: "olga" });
  expect((await kv.get("handoff1.owner"))?.json()).toMatchObject({ owner: { kind: "operator", id: "olga" } });

  // User input while the operator owns the session: the pool consumes it and stays silent.
  // (The operator's own message is input too, and the pool is silent on it as well.)
  const { id: during } = await user.publish({ type: "input", data: { text: "stream 3" } });
  const reply = await operator.publish({ type: "input", data: { text: "Hi, Olga here — let me check your invoice." } });
  await operatorLog.next((r) => r.event.type === "input" && r.event.from.kind === "operator");
  await waitFor(() => consumerAcked(reply.seq));
  expect(log.records.filter((r) => r.event.type.startsWith("turn.") && r.event.turn !== before)).toEqual([]);
  // The input is not left pending forever: the pool marks it final (no turn.end: it never was a turn).
  expect((await kv.get(`handoff1.turn.${during}`))?.json()).toMatchObject({
    status: "cancelled",
    skipped: "operator",
    agent: "assistant",
    worker: server.worker,
  });
  expect((await kv.get(`handoff1.turn.${reply.id}`))?.json()).toMatchObject({
    status: "cancelled",
    skipped: "operator",
  });
  expect(user.control.turn(during)).toBeUndefined();
  await expect(user.cancel(during)).rejects.toMatchObject({ code: "TURN_ENDED" });

  // The operator hands back: the next user input is answered again.
  await operator.publish({ type: "handoff", data: { action: "release" } });
  await log.next((r) => r.event.type === "handoff" && (r.event.data as { action: string }).action === "release");
  expect((await kv.get("handoff1.owner"))?.json()).toMatchObject({ owner: null });
  const { id: after } = await user.publish({ type: "input", data: { text: "stream 3" } });
  expect((await log.next((r) => r.event.type === "turn.end" && r.event.turn === after)).event.data).toEqual({
    status: "completed",
  });
  // Everything stored before the last turn.end has reached the client by now (one ordered stream):
  // the pool published nothing for the input it got while the operator owned the session.
  expect(
    log.records.filter(
      (r) => r.event.type.startsWith("turn.") && (r.event.turn === during || r.event.turn === reply.id),
    ),
  ).toEqual([]);
});
