import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { dedupeKey, ErrorCode, encodeMsgpack, newId, type SessionEvent, type StateOp } from "@threadline/protocol";
import { type NatsServer, startNatsServer, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { connectAgent } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { serveAgent } from "./agent-server.ts";
import { openSession } from "./agent-session.ts";
import { StateViews, stateViewsOf } from "./state-views.ts";

let nats: NatsServer;
let nc: NatsConnection;
let planner: Agent;
let shopper: Agent;
beforeAll(async () => {
  nats = await startNatsServer();
  planner = await connectAgent({ servers: nats.url, id: "planner" });
  shopper = await connectAgent({ servers: nats.url, id: "shopper" });
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await planner?.close();
  await shopper?.close();
  await nats?.stop();
});

const fresh = () => `s${newId().slice(0, 10)}`;

/** Stores an event as the gateway would for user alice (state on lane st, input on lane in). */
async function userEvent(session: string, type: string, data: unknown): Promise<number> {
  const lane = type === "state" ? "st" : "in";
  const event: SessionEvent = { id: newId(), type, ts: Date.now(), from: { kind: "user", id: "alice" }, data };
  const ack = await jetstream(nc).publish(`tl.${session}.${lane}.user.alice`, encodeMsgpack(event), {
    msgID: dedupeKey(session, event.id),
  });
  return ack.seq;
}
const userOp = (session: string, op: StateOp) => userEvent(session, "state", op);

async function bound(agent: Agent, session: string) {
  const s = await openSession(agent, session, { presence: false });
  onTestFinished(() => s.close());
  return s;
}

describe("agent shared state", () => {
  it("an agent's write is seen by another agent's view; an agent may write a user object", async () => {
    const session = fresh();
    const mine = await (await bound(planner, session)).state("agent-checklist");
    const theirs = await (await bound(shopper, session)).state("agent-checklist");
    const version = await mine.set([], { steps: ["find", "pay"], done: 0 });
    expect(mine.version).toBe(version);
    await theirs.waitFor((v) => v !== undefined, { timeoutMs: 5000 });
    expect(theirs.get()).toEqual({ steps: ["find", "pay"], done: 0 });
    expect(theirs.updatedBy).toEqual({ kind: "agent", id: "planner" });
    expect(theirs.version).toBe(version);

    // The stream rule lets agents write users' objects (§19.1): an agent may fill the cart in.
    const cart = await (await bound(shopper, session)).state("cart");
    const added = await cart.insert(["items"], { sku: "mug", qty: 1 });
    expect(cart.get()).toEqual({ items: [{ sku: "mug", qty: 1 }] });
    expect(added).toBeGreaterThan(version);
  });

  it("a compare-and-set race between two agents: one applies, the other gets STATE_CONFLICT", async () => {
    const session = fresh();
    const a = await (await bound(planner, session)).state("agent-form");
    const b = await (await bound(shopper, session)).state("agent-form");
    const v1 = await a.set([], { owner: "nobody" });
    await b.waitFor(() => b.version === v1, { timeoutMs: 5000 });
    const results = await Promise.allSettled([
      a.set(["owner"], "planner", { ifVersion: v1 }),
      b.set(["owner"], "shopper", { ifVersion: v1 }),
    ]);
    const applied = results.filter((r) => r.status === "fulfilled");
    const rejected = results.filter((r) => r.status === "rejected");
    expect(applied).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toMatchObject({ code: ErrorCode.STATE_CONFLICT });
    // Both views agree on the winner.
    const winner = (applied[0] as PromiseFulfilledResult<number>).value;
    await waitFor(() => a.version === winner && b.version === winner);
    expect(a.get()).toEqual(b.get());
  });

  it("waitFor resolves on another writer's change (a user picking a size)", async () => {
    const session = fresh();
    const form = await (await bound(planner, session)).state<{ size?: string }>("form");
    const picked = form.waitFor((v) => typeof v?.size === "string", { timeoutMs: 5000 });
    await userOp(session, { object: "form", op: "set", path: ["color"], value: "red" });
    await userOp(session, { object: "form", op: "merge", path: [], value: { size: "M" } });
    expect(await picked).toEqual({ color: "red", size: "M" });
    expect(form.updatedBy).toEqual({ kind: "user", id: "alice" });
  });

  it("refuses without storing: a system agent's writes, malformed names, state off lane st", async () => {
    const session = fresh();
    const system = await connectAgent({ servers: nats.url, id: "sys", kind: "system" });
    onTestFinished(() => system.close());
    const handle = await (await bound(system, session)).state("cart");
    await expect(handle.set([], 1)).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    await expect((await bound(planner, session)).state("no spaces")).rejects.toMatchObject({
      code: ErrorCode.INVALID_FRAME,
    });
    const op = { object: "cart", op: "set", path: [], value: 1 };
    await expect(planner.publish(session, { type: "state", data: op })).rejects.toMatchObject({
      code: ErrorCode.INVALID_FRAME,
    });
    const stored = [];
    for await (const r of planner.history(session)) stored.push(r);
    expect(stored).toEqual([]);
    // The raw form works on lane st.
    const { seq } = await planner.publish(session, { type: "state", data: op }, { lane: "st" });
    const cart = await (await bound(shopper, session)).state("cart");
    await cart.waitFor(() => cart.version === seq, { timeoutMs: 5000 });
    expect(cart.get()).toBe(1);
  });

  it("ctx.state in a served turn reads the value stored before the input and can wait for a change", async () => {
    const session = fresh();
    const seen: unknown[] = [];
    const server = await serveAgent({
      agent: shopper,
      name: "copilot",
      entry: true,
      presence: false,
      handler: async (ctx) => {
        const page = await ctx.state<{ product: string }>("page");
        seen.push(page.get());
        if (ctx.text !== "is this one in stock?") return;
        const checklist = await ctx.state("agent-checklist");
        await checklist.set([], { steps: ["answer"], done: 0 });
        const next = await page.waitFor((v) => v?.product === "lamp", { signal: ctx.signal, timeoutMs: 10_000 });
        seen.push(next);
        await checklist.increment(["done"]);
      },
    });
    onTestFinished(() => server.stop());
    await userOp(session, { object: "page", op: "set", path: [], value: { product: "mug" } });
    await userEvent(session, "input", { text: "is this one in stock?" });
    const checklist = await (await bound(planner, session)).state<{ done: number }>("agent-checklist");
    await checklist.waitFor((v) => v !== undefined, { timeoutMs: 10_000 });
    expect(seen).toEqual([{ product: "mug" }]);
    await userOp(session, { object: "page", op: "set", path: ["product"], value: "lamp" });
    expect(await checklist.waitFor((v) => v?.done === 1, { timeoutMs: 10_000 })).toEqual({
      steps: ["answer"],
      done: 1,
    });
    expect(seen).toEqual([{ product: "mug" }, { product: "lamp" }]);
    // One view per (agent, session), shared by the turn and released with it (it lingers for the next turn).
    expect(stateViewsOf(shopper).size).toBeGreaterThanOrEqual(1);

    // The next turn starts on the lingering view, which still reads everything stored before its input.
    await userOp(session, { object: "page", op: "set", path: [], value: { product: "desk" } });
    await userEvent(session, "input", { text: "and this one?" });
    await waitFor(() => seen.length === 3, { timeoutMs: 10_000 });
    expect(seen[2]).toEqual({ product: "desk" });
  });

  it("closing a bound session releases its handles: listeners stop, waits and writes reject CLOSED", async () => {
    const session = fresh();
    const s = await openSession(planner, session, { presence: false });
    const page = await s.state("page");
    const heard: unknown[] = [];
    page.subscribe((v) => heard.push(v));
    await userOp(session, { object: "page", op: "set", path: [], value: "/a" });
    await waitFor(() => heard.length === 1);
    const waiting = page.waitFor(() => false);
    await s.close();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(page.set([], "/x")).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    // The shared view lingers for the next user, but the released handle's listener no longer hears it.
    const other = await (await bound(planner, session)).state("page");
    const seq = await userOp(session, { object: "page", op: "set", path: [], value: "/b" });
    await other.waitFor(() => other.version === seq, { timeoutMs: 5000 });
    expect(heard).toEqual(["/a"]);
  });

  it("views are shared per session, closed after the linger once released, and bounded", async () => {
    const views = new StateViews(planner, { maxViews: 2, lingerMs: 30 });
    const [s1, s2, s3] = [fresh(), fresh(), fresh()];
    const a = await views.acquire(s1);
    const b = await views.acquire(s1);
    expect(b.view).toBe(a.view);
    const c = await views.acquire(s2);
    await expect(views.acquire(s3)).rejects.toMatchObject({ code: ErrorCode.TOO_MANY_SESSIONS });
    a.release();
    b.release();
    b.release(); // idempotent: does not release another holder's reference
    // An idle view gives way to a new session at once.
    const d = await views.acquire(s3);
    expect(views.size).toBe(2);
    expect(a.view.closed?.code).toBe(ErrorCode.CLOSED);
    c.release();
    await waitFor(() => c.view.closed !== undefined);
    expect(views.size).toBe(1);
    d.release();
    await views.closeAll();
    expect(d.view.closed?.code).toBe(ErrorCode.CLOSED);
  });
});
