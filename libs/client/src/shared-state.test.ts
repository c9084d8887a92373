import type { StateObject, StateOp } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import type { StateChange } from "./state-view.ts";
import { pendingAttach } from "./test-support/attached-session.ts";
import { appliedSeq } from "./test-support/client-fixture.ts";
import type { FakeConnection } from "./test-support/fake-gateway.ts";

const me = { kind: "user", id: "u1" } as const;
const agent = { kind: "agent", id: "a1" } as const;
const cartAt3: StateObject = { value: { items: ["A-1"] }, version: 3, updatedBy: me };

/** A client attached from the cursor, answered `attached` at seq 5 with a snapshot holding `cart` (version 3). */
async function withCart() {
  const setup = await pendingAttach();
  const attach = await setup.conn.take("attach");
  setup.conn.answerAttach(attach, "e1", 5, { cart: cartAt3 });
  const handle = await setup.attaching;
  return { ...setup, attach, handle, cart: handle.state("cart") };
}

/** Stores the client's next `state` publish at `seq` (echoes its event, then answers `published`). */
async function storeNextWrite(conn: FakeConnection, seq: number, opts: { replyFirst?: boolean } = {}) {
  const publish = await conn.take("publish");
  const echo = () => conn.stateEvent("s1", seq, publish.event.data as StateOp, me, publish.event.id);
  if (opts.replyFirst) conn.published(publish, seq);
  echo();
  if (!opts.replyFirst) conn.published(publish, seq);
  return publish;
}

describe("shared state (PROTOCOL.md §19)", () => {
  it("loads the snapshot before attach() resolves, then applies every change from any author", async () => {
    const { conn, attach, handle, cart } = await withCart();
    expect(attach.state).toBe(true);
    // Current at once: attach() waited for the state frame.
    expect(cart.get()).toEqual({ items: ["A-1"] });
    expect([cart.version, cart.updatedBy]).toEqual([3, me]);
    expect(Object.isFrozen(cart.get())).toBe(true);

    const changes: StateChange[] = [];
    cart.subscribe((c) => changes.push(c));
    const all: string[] = [];
    handle.onStateChange((c) => all.push(`${c.object}@${c.seq}`));
    conn.stateEvent("s1", 6, { object: "cart", op: "insert", path: ["items"], value: "B-2" }, agent);
    conn.events("s1", 7); // not a state event: only the position moves
    conn.stateEvent("s1", 8, { object: "page", op: "set", path: [], value: { product: "B-2" } });
    await appliedSeq(handle, 8);

    expect(changes).toEqual([
      { object: "cart", value: { items: ["A-1", "B-2"] }, version: 6, updatedBy: agent, seq: 6 },
    ]);
    expect(all).toEqual(["cart@6", "page@8"]);
    expect(handle.state("page").get()).toEqual({ product: "B-2" });
    expect(Object.keys(handle.states())).toEqual(["cart", "page"]);
    expect(handle.state("cart")).toBe(cart);
  });

  it('an attach from "start" asks for no snapshot: it folds the whole history', async () => {
    const { conn, attaching } = await pendingAttach({ attach: { from: "start" } });
    const attach = await conn.attached("e1", 0);
    expect(attach.state).toBeUndefined();
    const handle = await attaching;
    conn.stateEvent("s1", 1, { object: "form", op: "set", path: ["name"], value: "Ada" });
    conn.stateEvent("s1", 2, { object: "form", op: "increment", path: ["step"] });
    await appliedSeq(handle, 2);
    expect(handle.state("form").get()).toEqual({ name: "Ada", step: 1 });
    expect(handle.state("form").version).toBe(2);
  });

  it("a write resolves with the new version once the handle's own view applied it", async () => {
    const { conn, cart } = await withCart();
    const written = cart.set("note", "gift wrap");
    const publish = await storeNextWrite(conn, 9);
    expect(publish.event).toMatchObject({
      type: "state",
      data: { object: "cart", op: "set", path: ["note"], value: "gift wrap" },
    });
    await expect(written).resolves.toBe(9);
    expect(cart.get()).toEqual({ items: ["A-1"], note: "gift wrap" });

    // `published` first: the write still waits for the fold to reach its seq.
    let settled = false;
    const counted = cart.increment(["count"], 2).finally(() => {
      settled = true;
    });
    const second = await conn.take("publish");
    conn.published(second, 10);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    conn.stateEvent("s1", 10, second.event.data as StateOp, me, second.event.id);
    await expect(counted).resolves.toBe(10);
    expect(cart.get()).toMatchObject({ count: 2 });
  });

  it("a write that loses a race is rejected with STATE_CONFLICT, like on every other device", async () => {
    const { conn, cart } = await withCart();
    const changes: number[] = [];
    cart.subscribe((c) => changes.push(c.version));
    const written = cart.set(["items"], [], { ifVersion: 3 });
    const publish = await conn.take("publish");
    // Another device's write was stored first: the fold rejects ours (its ifVersion no longer matches).
    conn.stateEvent("s1", 6, { object: "cart", op: "insert", path: ["items"], value: "C-3" });
    conn.stateEvent("s1", 7, publish.event.data as StateOp, me, publish.event.id);
    conn.published(publish, 7);
    await expect(written).rejects.toMatchObject({ code: "STATE_CONFLICT", session: "s1" });
    expect(cart.get()).toEqual({ items: ["A-1", "C-3"] });
    expect(changes).toEqual([6]);
  });

  it("a write the local view already refuses rejects with its typed error and sends nothing", async () => {
    const { conn, handle, cart } = await withCart();
    await expect(cart.increment("items")).rejects.toMatchObject({ code: "STATE_PATH" });
    await expect(cart.set("note", "x", { ifVersion: 2 })).rejects.toMatchObject({ code: "STATE_CONFLICT" });
    await expect(handle.state("agent-plan").set([], { steps: [] })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(cart.set("x", { bad: Number.NaN })).rejects.toMatchObject({ code: "INVALID_FRAME" });
    await expect(cart.insert("items", "x".repeat(70_000))).rejects.toMatchObject({ code: "STATE_TOO_LARGE" });
    expect(() => handle.state("no spaces")).toThrow(expect.objectContaining({ code: "INVALID_FRAME" }));

    // The next publish on the socket is the valid write: nothing was sent before it.
    const written = cart.delete("items");
    await storeNextWrite(conn, 6);
    await expect(written).resolves.toBe(6);
    expect(conn.all("publish")).toHaveLength(1);
  });

  it("a write queued offline is sent on reconnect and resolves when its event is applied", async () => {
    const { gw, conn, cart } = await withCart();
    conn.terminate();
    const written = cart.merge({ coupon: "SPRING" });
    const conn2 = await gw.nextWelcomed();
    await conn2.attached("e1", 5);
    await expect(storeNextWrite(conn2, 6, { replyFirst: true })).resolves.toBeDefined();
    await expect(written).resolves.toBe(6);
    expect(cart.get()).toEqual({ items: ["A-1"], coupon: "SPRING" });
  });

  it("a reconnect resumes with the state it holds: no snapshot, no gap, duplicates ignored", async () => {
    const { gw, conn, handle, cart } = await withCart();
    const versions: number[] = [];
    cart.subscribe((c) => versions.push(c.version));
    conn.stateEvent("s1", 6, { object: "cart", op: "increment", path: ["n"] });
    await appliedSeq(handle, 6);

    conn.terminate();
    const conn2 = await gw.nextWelcomed();
    const reattach = await conn2.attached("e1", 6);
    expect(reattach.from).toEqual({ epoch: "e1", seq: 6, id: "ev-6" });
    expect(reattach.state).toBeUndefined();
    // A replay overlapping what was applied: seq 6 again must not count twice.
    conn2.stateEvent("s1", 6, { object: "cart", op: "increment", path: ["n"] });
    conn2.stateEvent("s1", 7, { object: "cart", op: "increment", path: ["n"], by: 10 });
    conn2.synced("s1", 7);
    await handle.whenSynced();
    expect(cart.get()).toEqual({ items: ["A-1"], n: 11 });
    expect(versions).toEqual([6, 7]);
  });

  it("after INSUFFICIENT_STATE the old handle's writes fail and a new attach asks for a snapshot again", async () => {
    const { gw, client, conn, handle, cart } = await withCart();
    const ended = new Promise((resolve) => handle.onError(resolve));
    const written = cart.set("note", "lost?");
    await conn.take("publish");
    conn.error({ session: "s1" }, "INSUFFICIENT_STATE", "stream recreated");
    await ended;
    await expect(written).rejects.toMatchObject({ code: "INSUFFICIENT_STATE" });

    const again = client.attach("s1");
    const attach = await conn.take("attach");
    expect(attach.state).toBe(true);
    expect(attach.from).toBeUndefined();
    conn.answerAttach(attach, "e2", 2, { cart: { value: { items: [] }, version: 1, updatedBy: agent } });
    const fresh = await again;
    expect(fresh.state("cart").get()).toEqual({ items: [] });
    expect(fresh.state("cart").version).toBe(1);
    expect(gw.connections).toHaveLength(1);
  });

  it("a snapshot lost with its socket is asked for again; attach() waits for it", async () => {
    const { gw, conn, attaching } = await pendingAttach({ attach: { from: "now" } });
    const attach = await conn.take("attach");
    expect(attach.state).toBe(true);
    conn.send({ op: "attached", rid: attach.rid, session: "s1", epoch: "e1", from: 4 });
    conn.terminate();
    const conn2 = await gw.nextWelcomed();
    const retry = await conn2.take("attach");
    expect([retry.from, retry.state]).toEqual([{ epoch: "e1", seq: 4 }, true]);
    conn2.answerAttach(retry, "e1", 4, { page: { value: "home", version: 4, updatedBy: me } });
    const handle = await attaching;
    expect(handle.state("page").get()).toBe("home");
  });

  it("a gateway that sends no state frame does not block attach(): it resolves on the first event or synced", async () => {
    const { conn, attaching } = await pendingAttach();
    const attach = await conn.take("attach");
    conn.send({ op: "attached", rid: attach.rid, session: "s1", epoch: "e1", from: 0 });
    conn.synced("s1", 0);
    const handle = await attaching;
    expect(handle.states()).toEqual({});
  });
});
