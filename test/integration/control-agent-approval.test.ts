import { expect, test } from "vitest";
import { deviceClient, sessionLog } from "./support/control-agent.ts";
import { ControlKv } from "./support/control-kv.ts";
import { scriptedSession } from "./support/scripted-pool.ts";

test("an approval request is answered from a second device (a second answer is refused); one for operators only refuses the user and takes the operator's answer", async () => {
  const { stack, phone, laptop } = await scriptedSession("approval1", ["phone", "laptop"]);
  const phoneLog = sessionLog(phone);

  const { id: turn } = await phone.publish({ type: "input", data: { text: "approve" } });
  const request = await phoneLog.next((r) => r.event.type === "approval.request" && r.event.turn === turn);
  expect(request.event.data).toMatchObject({
    action: "deploy",
    details: { env: "prod" },
    approvers: ["user", "operator"],
    timeoutMs: 10_000,
  });
  const call = request.event.ref!;
  await laptop.publish({ type: "approval", ref: call, data: { approved: true, reason: "looks right" } });
  await expect(phone.publish({ type: "approval", ref: call, data: { approved: false } })).rejects.toMatchObject({
    code: "CALL_ALREADY_ANSWERED",
  });
  const note = await phoneLog.next((r) => r.event.type === "note" && r.event.turn === turn);
  expect(note.event.data).toMatchObject({
    text: "approval",
    answer: { approved: true, reason: "looks right", from: { kind: "user", id: "alice", device: "laptop" } },
  });
  expect((await phoneLog.next((r) => r.event.type === "call.closed" && r.event.ref === call)).event.data).toEqual({
    call,
    reason: "answered",
  });

  // Operators only: the customer's answer is refused (nothing stored), the operator's is taken.
  const operator = await deviceClient(stack, "olga", "console", { role: "operator" }).attach("approval1", {
    from: "start",
  });
  const { id: refund } = await phone.publish({ type: "input", data: { text: "approve-operator" } });
  const refundRequest = await phoneLog.next((r) => r.event.type === "approval.request" && r.event.turn === refund);
  expect(refundRequest.event.data).toMatchObject({ action: "refund", approvers: ["operator"] });
  const refundCall = refundRequest.event.ref!;
  // The gate's approver check (a user may control the session, but is no approver here).
  await expect(phone.publish({ type: "approval", ref: refundCall, data: { approved: true } })).rejects.toMatchObject({
    code: "FORBIDDEN",
    message: expect.stringContaining("approvers: operator"),
  });
  // An observer may read the session but not control it: refused before the call is even looked at.
  const observer = await deviceClient(stack, "oscar", "wall", { role: "observer" }).attach("approval1", {
    from: "start",
  });
  await expect(observer.publish({ type: "approval", ref: refundCall, data: { approved: true } })).rejects.toMatchObject(
    { code: "FORBIDDEN", message: expect.stringContaining("not allowed to control") },
  );
  const kv = await ControlKv.open(stack.nc);
  expect(await kv.call("approval1", refundCall)).toMatchObject({
    kind: "approval",
    turn: refund,
    status: "pending",
    approvers: ["operator"],
  });
  await operator.publish({ type: "approval", ref: refundCall, data: { approved: false, reason: "over the limit" } });
  const refundNote = await phoneLog.next((r) => r.event.type === "note" && r.event.turn === refund);
  expect(refundNote.event.data).toMatchObject({
    text: "approval",
    answer: { approved: false, reason: "over the limit", from: { kind: "operator", id: "olga" } },
  });
  await phoneLog.next((r) => r.event.type === "turn.end" && r.event.turn === refund);
  expect(await kv.call("approval1", refundCall)).toMatchObject({
    status: "answered",
    answeredBy: { kind: "operator", id: "olga", device: "console" },
  });
  // The refused answer left no trace in the session: one answer per call, each from its accepted sender.
  const answers = phoneLog.records.filter((r) => r.event.type === "approval");
  expect(answers.map((r) => [r.event.ref, r.event.from.kind, r.event.from.device ?? null])).toEqual([
    [call, "user", "laptop"],
    [refundCall, "operator", "console"],
  ]);
});
