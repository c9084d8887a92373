import { type ErrorFrame, newId, type PublishedFrame, type SessionEvent } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { useControlGateway } from "./support/control-gateway.ts";
import { storedEvents } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";

const fx = useControlGateway("ctl-turns");
const session = fx.session;

async function tab(device: string, sub = "alice"): Promise<RawSocket> {
  return RawSocket.connect(fx.stack.gateway.url, await fx.stack.token({ sub }), { device });
}

/** Publishes an input from `s`; its id is the turn id. */
async function startTurn(s: RawSocket, id: string): Promise<string> {
  const turn = newId();
  const reply = await s.request<PublishedFrame>({
    op: "publish",
    session: id,
    event: { id: turn, type: "input", data: { text: "plan my trip" } },
  });
  expect(reply).toMatchObject({ op: "published", id: turn });
  return turn;
}

/** Plays the worker: the turn is running and announced. */
async function runTurn(id: string, turn: string): Promise<void> {
  await fx.kv.putTurn(id, turn, { status: "running", agent: "planner", worker: "test-agent" });
  await fx.stack.agent.publish(id, {
    type: "turn.start",
    turn,
    ref: turn,
    data: { agent: "planner", worker: "test-agent" },
  });
}

describe("turns through the gateway", () => {
  it("an input creates its turn as pending (turn id = input id)", async () => {
    const id = session();
    const a = await tab("tab-a");
    const turn = await startTurn(a, id);
    expect(await fx.kv.turn(id, turn)).toMatchObject({ status: "pending" });
    // The worker moves it on; a duplicate of the input (same id) does not reset it.
    await fx.kv.putTurn(id, turn, { status: "running" });
    await a.request({ op: "publish", session: id, event: { id: turn, type: "input", data: { text: "plan my trip" } } });
    expect(await fx.kv.turn(id, turn)).toMatchObject({ status: "running" });
    await a.close();
  });

  it("Stop from tab B reaches the session as a cancel from B's device for the turn started in tab A", async () => {
    const id = session();
    const a = await tab("tab-a");
    const b = await tab("tab-b");
    await a.request({ op: "attach", session: id, from: "start" });
    const turn = await startTurn(a, id);
    await runTurn(id, turn);
    const cancel = await b.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { type: "cancel", turn, data: { reason: "stop" } },
    });
    expect(cancel).toMatchObject({ op: "published" });
    const seen = await a.next((f) => f.op === "event" && f.session === id && f.event.type === "cancel");
    expect(seen).toMatchObject({
      seq: cancel.seq,
      event: { type: "cancel", turn, from: { kind: "user", id: "alice", device: "tab-b" }, data: { reason: "stop" } },
    });
    // A running turn is stopped by its worker; the gateway leaves its entry to the worker.
    expect((await fx.kv.turn(id, turn))?.status).toBe("running");
    await Promise.all([a.close(), b.close()]);
  });

  it("a cancel before any worker started the turn marks it cancelled; a retry passes, a steer is TURN_ENDED", async () => {
    const id = session();
    const a = await tab("tab-a");
    const turn = await startTurn(a, id);
    const cancelId = newId();
    const cancel = { op: "publish", session: id, event: { id: cancelId, type: "cancel", turn } };
    const first = await a.request<PublishedFrame>(cancel);
    expect(first).toMatchObject({ op: "published", duplicate: false });
    expect(await fx.kv.turn(id, turn)).toMatchObject({ status: "cancelled", cancelEvent: cancelId });
    expect(await a.request<PublishedFrame>(cancel)).toMatchObject({ seq: first.seq, duplicate: true });
    expect(
      await a.request<ErrorFrame>({ op: "publish", session: id, event: { type: "steer", turn, data: { text: "x" } } }),
    ).toMatchObject({ code: "TURN_ENDED" });
    expect(await a.request<ErrorFrame>({ op: "publish", session: id, event: { type: "cancel", turn } })).toMatchObject({
      code: "TURN_ENDED",
    });
    expect((await storedEvents(fx.stack.agent, id)).map((e) => e.type)).toEqual(["input", "cancel"]);
    await a.close();
  });

  it("steer of a running turn is stored with the sender's device", async () => {
    const id = session();
    const a = await tab("tab-a");
    const turn = await startTurn(a, id);
    await runTurn(id, turn);
    expect(
      await a.request({ op: "publish", session: id, event: { type: "steer", turn, data: { text: "cheaper" } } }),
    ).toMatchObject({ op: "published" });
    const steer = (await storedEvents(fx.stack.agent, id)).find((e) => e.type === "steer");
    expect(steer).toMatchObject({ turn, data: { text: "cheaper" }, from: { device: "tab-a" } });
    await a.close();
  });

  it("closing tab A mid-turn (close frame or dropped connection) stores no control event", async () => {
    for (const how of ["close", "drop"] as const) {
      const id = session();
      const watcher = await tab("tab-w");
      await watcher.request({ op: "attach", session: id, from: "start" });
      const a = await tab("tab-a");
      await a.request({ op: "attach", session: id, from: "start" });
      const turn = await startTurn(a, id);
      await runTurn(id, turn);
      const aGone = waitFor(() => fx.stack.gateway.connections === 1, { timeoutMs: 10_000 });
      if (how === "close") await a.close();
      else a.terminate();
      await aGone;
      // Anything the close caused would be stored before this marker.
      const marker = await fx.stack.agent.publish(id, { type: "note", turn, data: { text: "still working" } });
      await watcher.next((f) => f.op === "event" && f.session === id && f.seq === marker.seq);
      const stored: SessionEvent[] = await storedEvents(fx.stack.agent, id);
      expect(stored.map((e) => e.type)).toEqual(["input", "turn.start", "note"]);
      expect((await fx.kv.turn(id, turn))?.status).toBe("running");
      await watcher.close();
    }
  });
});
