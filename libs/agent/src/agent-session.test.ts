import { jetstream } from "@nats-io/jetstream";
import { dedupeKey, encodeMsgpack, newId, type SessionEvent } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { waitFor } from "@threadline/test-kit";
import { expect, it } from "vitest";
import { openSession } from "./agent-session.ts";
import { useAgent } from "./test-support/nats-fixture.ts";

const fx = useAgent({ id: "bound", ownConnection: true });

async function userEvent(session: string, type: string, extra: Partial<SessionEvent> = {}): Promise<string> {
  const lane = type === "input" ? "in" : "ctl";
  const event: SessionEvent = { id: newId(), type, ts: Date.now(), from: { kind: "user", id: "alice" }, ...extra };
  await jetstream(fx.nc).publish(`tl.${session}.${lane}.user.alice`, encodeMsgpack(event), {
    msgID: dedupeKey(session, event.id),
  });
  return event.id;
}

it("a session-bound agent receives its session's input and control (iterables and callbacks), publishes, is present", async () => {
  await using bound = await openSession(fx.agent, "bound1", { presence: { status: "listening" } });
  const inputs: SubjectRecord[] = [];
  const controls: SubjectRecord[] = [];
  const stopInput = bound.onInput((r) => inputs.push(r));
  // Stays subscribed: once it has an input, every listener subscribed at that moment has it too.
  const stillListening: string[] = [];
  bound.onInput((r) => stillListening.push(r.event.id));
  const iterated: string[] = [];
  void (async () => {
    for await (const r of bound.control()) iterated.push(r.event.type);
  })();
  bound.onControl((r) => controls.push(r));

  await userEvent("other", "input", { data: { text: "not for us" } });
  const input = await userEvent("bound1", "input", { data: { text: "hello" } });
  await userEvent("other", "cancel", { turn: "x" });
  await userEvent("bound1", "steer", { turn: input, data: { text: "faster" } });
  await waitFor(() => inputs.length === 1 && controls.length === 1 && iterated.length === 1);
  expect(inputs[0]?.event).toMatchObject({ id: input, data: { text: "hello" } });
  expect(controls[0]?.event).toMatchObject({ type: "steer", turn: input });
  expect(iterated).toEqual(["steer"]);

  const ack = await bound.publish({ type: "note", turn: input, data: { text: "hi back" } });
  const stored: SubjectRecord[] = [];
  for await (const r of fx.agent.history("bound1")) stored.push(r);
  expect(stored.find((r) => r.seq === ack.seq)?.event).toMatchObject({ from: { kind: "agent", id: "bound" } });
  const members = await bound.presence.members();
  expect(members).toContainEqual(expect.objectContaining({ kind: "agent", id: "bound", status: "listening" }));

  stopInput();
  const after = await userEvent("bound1", "input", { data: { text: "after unsubscribe" } });
  await waitFor(() => stillListening.includes(after));
  expect(stillListening).toEqual([input, after]);
  expect(inputs).toHaveLength(1);
  await bound.close();
});
