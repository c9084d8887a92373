import { Kvm } from "@nats-io/kv";
import { expect, test } from "vitest";
import { sessionLog } from "./support/control-agent.ts";
import { ControlKv } from "./support/control-kv.ts";
import { scriptedSession } from "./support/scripted-pool.ts";

test("a client tool call is answered by a second device (later answers refused); an unanswered one times out and is closed", async () => {
  const { stack, phone, laptop } = await scriptedSession("tool1", ["phone", "laptop"]);
  const phoneLog = sessionLog(phone);
  const laptopLog = sessionLog(laptop);

  // The phone asks; the laptop (which has a GPS fix, say) answers the tool call.
  const { id: turn } = await phone.publish({ type: "input", data: { text: "tool 5000" } });
  const call = await laptopLog.next((r) => r.event.type === "tool.call" && r.event.turn === turn);
  expect(call.event.data).toMatchObject({ name: "geolocation", args: { precise: true }, timeoutMs: 5000 });
  const callId = call.event.ref!;
  expect((call.event.data as { call: string }).call).toBe(callId);
  await laptop.publish({ type: "tool.result", ref: callId, data: { result: { lat: 52.37, lng: 4.9 } } });

  const note = await phoneLog.next((r) => r.event.type === "note" && r.event.turn === turn);
  expect(note.event.data).toMatchObject({
    text: "tool answered",
    answer: { result: { lat: 52.37, lng: 4.9 }, from: { kind: "user", id: "alice", device: "laptop" } },
  });
  // The phone answers too, late: the gateway refuses it (first answer wins across devices).
  await expect(
    phone.publish({ type: "tool.result", ref: callId, data: { result: { lat: 0, lng: 0 } } }),
  ).rejects.toMatchObject({ code: "CALL_ALREADY_ANSWERED" });
  const closed = await phoneLog.next((r) => r.event.type === "call.closed" && r.event.ref === callId);
  expect(closed.event.data).toEqual({ call: callId, reason: "answered" });
  expect((await phoneLog.next((r) => r.event.type === "turn.end" && r.event.turn === turn)).event.data).toEqual({
    status: "completed",
  });

  // Nobody answers within 300 ms: the call times out (TIMEOUT to the handler), is closed in the
  // control bucket and announced with call.closed {reason: "timeout"} so UIs drop the prompt.
  const { id: slow } = await phone.publish({ type: "input", data: { text: "tool 300" } });
  const slowCall = await phoneLog.next((r) => r.event.type === "tool.call" && r.event.turn === slow);
  const slowNote = await phoneLog.next((r) => r.event.type === "note" && r.event.turn === slow);
  expect(slowNote.event.data).toEqual({ text: "tool failed", code: "TIMEOUT" });
  const slowClosed = await phoneLog.next((r) => r.event.type === "call.closed" && r.event.ref === slowCall.event.ref);
  expect(slowClosed.event.data).toMatchObject({ reason: "timeout" });
  expect(slowClosed.seq).toBeLessThan(slowNote.seq);
  expect(slowNote.event.ts - slowCall.event.ts).toBeGreaterThanOrEqual(290);
  await expect(
    laptop.publish({ type: "tool.result", ref: slowCall.event.ref!, data: { error: "too slow" } }),
  ).rejects.toMatchObject({ code: "CALL_CLOSED" });
  const kv = await new Kvm(stack.nc).open("threadline-control");
  expect((await kv.get(`tool1.call.${slowCall.event.ref}`))?.json()).toMatchObject({
    kind: "tool",
    turn: slow,
    status: "closed",
    reason: "timeout",
  });
});

test("a cancel while a client tool call is open rejects the call in the handler, closes it cancelled and refuses a late answer", async () => {
  const { stack, phone, laptop } = await scriptedSession("tool2", ["phone", "laptop"]);
  const phoneLog = sessionLog(phone);

  const { id: turn } = await phone.publish({ type: "input", data: { text: "tool 20000" } });
  const call = await phoneLog.next((r) => r.event.type === "tool.call" && r.event.turn === turn);
  await laptop.cancel(turn, "never mind");

  const closed = await phoneLog.next((r) => r.event.type === "call.closed" && r.event.ref === call.event.ref);
  expect(closed.event.data).toEqual({ call: call.event.ref, reason: "cancelled" });
  const end = await phoneLog.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
  // What the SDK stores for a cancelled turn: the cancel's reason, naming who cancelled it.
  expect(end.event.data).toEqual({
    status: "cancelled",
    reason: expect.stringContaining("cancelled by user alice: never mind"),
  });
  expect(end.seq).toBeGreaterThan(closed.seq);
  await expect(
    phone.publish({ type: "tool.result", ref: call.event.ref!, data: { result: { lat: 1, lng: 1 } } }),
  ).rejects.toMatchObject({ code: "CALL_CLOSED" });
  const kv = await ControlKv.open(stack.nc);
  expect(await kv.call("tool2", call.event.ref!)).toMatchObject({
    status: "closed",
    reason: "cancelled",
  });
  // The handler's call rejected with the turn's abort reason; it never saw an answer ("tool answered").
  // turn.end is the turn's last event, so every note of the turn has reached the phone by now.
  const notes = phoneLog.ofTurn(turn).filter((r) => r.event.type === "note");
  expect(notes.map((r) => r.event.data)).toEqual([{ text: "tool failed", code: "TURN_ENDED" }]);
  expect(notes[0]!.seq).toBeGreaterThan(closed.seq);
  expect(phone.control.calls).toEqual([]);
});
