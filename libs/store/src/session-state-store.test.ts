import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { dedupeKey, ErrorCode, encodeMsgpack, newId, type SessionEvent, type StateOp } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { beforeAll, expect, it, onTestFinished } from "vitest";
import type { SubjectRecord } from "./record-decoder.ts";
import { createSessionStateStore, type SessionStateStore } from "./session-state-store.ts";
import { provisionThreadline, type ThreadlineStreamInfo } from "./stream-provisioner.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const fixture = useProvisionedNats();
let nc: NatsConnection;
let info: ThreadlineStreamInfo;
let store: SessionStateStore;
beforeAll(async () => {
  ({ nc, info } = fixture);
  store = createSessionStateStore({ nc, js: jetstream(nc), jsm: await jetstreamManager(nc), info });
});

async function storeEvent(session: string, lane: string, type: string, data: unknown, who = "alice"): Promise<number> {
  const kind = who === "bot" ? "agent" : "user";
  const event: SessionEvent = { id: newId(), type, ts: Date.now(), from: { kind, id: who }, data };
  const ack = await jetstream(nc).publish(`tl.${session}.${lane}.${kind}.${who}`, encodeMsgpack(event), {
    msgID: dedupeKey(session, event.id),
  });
  return ack.seq;
}
const op = (session: string, o: StateOp, who?: string) => storeEvent(session, "st", "state", o, who);

it("read folds the session's state events in stream order, at the stream's current position", async () => {
  const first = await op("r1", { object: "cart", op: "set", path: [], value: { items: [] } });
  await op("r1", { object: "cart", op: "insert", path: ["items"], value: "mug" });
  // A stale compare-and-set loses; another session's and other lanes' events do not count.
  await op("r1", { object: "cart", op: "set", path: ["items"], value: [], ifVersion: first });
  await op("r1", { object: "agent-plan", op: "set", path: [], value: "forged" }); // a user may not write agent- objects
  await op("r2", { object: "cart", op: "set", path: [], value: "other session" });
  const plan = await op("r1", { object: "agent-plan", op: "set", path: [], value: { step: 1 } }, "bot");
  const last = await storeEvent("r1", "out", "note", { text: "not state" }, "bot");

  const state = await store.read("r1");
  expect(state.seq).toBeGreaterThanOrEqual(last);
  expect(state.objects).toEqual({
    cart: { value: { items: ["mug"] }, version: first + 1, updatedBy: { kind: "user", id: "alice" } },
    "agent-plan": { value: { step: 1 }, version: plan, updatedBy: { kind: "agent", id: "bot" } },
  });
  const empty = await store.read("nothing-here");
  expect(empty).toEqual({ seq: expect.any(Number), objects: {} });
  expect(empty.seq).toBeGreaterThanOrEqual(last);
});

it("catchUp offers the state events after a seq and reaches at least the given position", async () => {
  const a = await op("c1", { object: "page", op: "set", path: [], value: "/home" });
  const b = await op("c1", { object: "page", op: "set", path: [], value: "/shop" });
  const input = await storeEvent("c1", "in", "input", { text: "hi" });
  const seen: number[] = [];
  const reached = await store.catchUp("c1", a, (r) => seen.push(r.seq), input);
  expect(seen).toEqual([b]);
  expect(reached).toBe(input);
});

it("follow delivers the session's state events stored after a seq, live and in order", async () => {
  const before = await op("f1", { object: "n", op: "increment", path: [] });
  const got: SubjectRecord[] = [];
  const follower = await store.follow("f1", before, (r) => got.push(r));
  const x = await op("f1", { object: "n", op: "increment", path: [], by: 2 });
  await op("f2", { object: "n", op: "increment", path: [] });
  await storeEvent("f1", "in", "input", { text: "not state" });
  const y = await op("f1", { object: "n", op: "increment", path: [], by: 3 });
  await waitFor(() => got.length === 2);
  expect(got.map((r) => [r.seq, (r.event.data as { by: number }).by])).toEqual([
    [x, 2],
    [y, 3],
  ]);
  expect(follower.lastSeq).toBe(y);
  await follower.close();
  await op("f1", { object: "n", op: "increment", path: [] });
  await store.read("f1"); // a round trip: a closed follower would have had the event by now
  expect(got).toHaveLength(2);
});

it("a follower keeps delivering, in order and without duplicates, across a nats-server restart", async () => {
  const server = await startNatsServer();
  onTestFinished(() => server.stop());
  const own = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
  onTestFinished(() => own.close());
  const ownInfo = await provisionThreadline(own);
  const js = jetstream(own);
  const restartStore = createSessionStateStore({ nc: own, js, jsm: await jetstreamManager(own), info: ownInfo });
  const increment = (by: number): SessionEvent => {
    const data = { object: "n", op: "increment", path: [], by };
    return { id: newId(), type: "state", ts: 0, from: { kind: "user", id: "alice" }, data };
  };
  // A retry repeats the same event id: a timed-out attempt that was stored is not stored twice.
  const publish = async (event: SessionEvent) =>
    (await js.publish("tl.rs.st.user.alice", encodeMsgpack(event), { msgID: dedupeKey("rs", event.id) })).seq;
  const got: number[] = [];
  const follower = await restartStore.follow("rs", 0, (r) => got.push(r.seq));
  onTestFinished(() => follower.close());
  const first = await publish(increment(1));
  await waitFor(() => got.length === 1);
  await server.restart();
  const again = increment(2);
  const second = await waitFor(() => publish(again).catch(() => undefined), { timeoutMs: 15_000 });
  await waitFor(() => got.length >= 2, { timeoutMs: 15_000 });
  expect(got).toEqual([first, second]);
});

it("read fails with UNAVAILABLE while NATS is away", async () => {
  const server = await startNatsServer();
  const own = await connect({ servers: server.url, maxReconnectAttempts: -1 });
  try {
    const ownInfo = await provisionThreadline(own);
    const jsm = await jetstreamManager(own, { timeout: 300 });
    const away = createSessionStateStore({ nc: own, js: jetstream(own, { timeout: 300 }), jsm, info: ownInfo });
    await server.stop();
    await expect(away.read("s1")).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
  } finally {
    await own.close();
    await server.stop();
  }
});
