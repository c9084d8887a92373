import { type StateFrame, type StateOp, stepState } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { agentStateOp, attachWithState, publishState, storedState, storedStateSeqs } from "./support/state.ts";

// Shared session state through the gateway (PROTOCOL.md §19.4/§19.5), on a real nats-server and real
// WebSockets: who may write what, the limits (refused before anything is stored), the pre-check, and
// attach {state: true}: the snapshot at `from`, then every change after it with no gap and no duplicate.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

async function socket(claims: Parameters<Stack["token"]>[0] = {}): Promise<RawSocket> {
  const s = await RawSocket.connect(stack.gateway.url, await stack.token(claims));
  onTestFinished(() => s.close());
  return s;
}

const set = (object: string, path: (string | number)[], value: unknown, ifVersion?: number): StateOp =>
  ({ object, op: "set", path, value, ...(ifVersion === undefined ? {} : { ifVersion }) }) as StateOp;

describe("writing state through the gateway", () => {
  it("a user cannot write agent- objects; operators can; a token's state grant narrows what a user writes", async () => {
    const session = "st-grants";
    const alice = await socket();
    expect(await publishState(alice, session, set("agent-plan", [], { steps: [] }))).toMatchObject({
      op: "error",
      code: "FORBIDDEN",
    });
    const op = await socket({ sub: "olga", role: "operator" });
    expect(await publishState(op, session, set("agent-plan", [], { steps: [] }))).toMatchObject({ op: "published" });

    const narrow = await socket({
      sub: "bob",
      grants: [{ session: "st-*", can: ["read", "write"], state: ["cart", "page-*"] }],
    });
    expect(await publishState(narrow, session, set("cart", [], { items: [] }))).toMatchObject({ op: "published" });
    expect(await publishState(narrow, session, set("page-home", [], { product: "p1" }))).toMatchObject({
      op: "published",
    });
    expect(await publishState(narrow, session, set("checklist", [], {}))).toMatchObject({
      op: "error",
      code: "FORBIDDEN",
    });
    const observer = await socket({ sub: "oscar", role: "observer" });
    expect(await publishState(observer, session, set("cart", [], {}))).toMatchObject({
      op: "error",
      code: "FORBIDDEN",
    });
    expect(await publishState(alice, session, { object: "cart", op: "fly", path: [] } as never)).toMatchObject({
      op: "error",
      code: "INVALID_FRAME",
    });
    // Only the three allowed writes were stored.
    expect(await storedStateSeqs(stack.nc, session)).toHaveLength(3);
    expect(Object.keys((await storedState(stack.nc, session)).objects).sort()).toEqual([
      "agent-plan",
      "cart",
      "page-home",
    ]);
  });

  it("refuses a CAS conflict and a bad path before storing; a resent op is a duplicate, not a conflict", async () => {
    const session = "st-cas";
    const alice = await socket();
    const first = await publishState(alice, session, set("form", [], { name: "" }, 0), "form-create");
    expect(first).toMatchObject({ op: "published" });
    const v1 = (first as { seq: number }).seq;
    expect(await publishState(alice, session, set("form", [], { name: "x" }, 0))).toMatchObject({
      op: "error",
      code: "STATE_CONFLICT",
      retryable: false,
    });
    expect(
      await publishState(alice, session, { object: "form", op: "increment", path: ["name"] } as StateOp),
    ).toMatchObject({ op: "error", code: "STATE_PATH" });
    // The client resends its create after a lost `published` (same id): answered as stored, not refused.
    expect(await publishState(alice, session, set("form", [], { name: "" }, 0), "form-create")).toMatchObject({
      op: "published",
      seq: v1,
      duplicate: true,
    });
    // An agent changes the form meanwhile: the gateway's view follows, so the stale version is refused.
    const agentSeq = await agentStateOp(stack.nc, session, set("form", ["name"], "Ada"));
    expect(await publishState(alice, session, set("form", ["name"], "Bob", v1))).toMatchObject({
      code: "STATE_CONFLICT",
    });
    expect(await publishState(alice, session, set("form", ["name"], "Bob", agentSeq))).toMatchObject({
      op: "published",
    });
    expect(await storedStateSeqs(stack.nc, session)).toHaveLength(3);
    expect((await storedState(stack.nc, session)).objects.form?.value).toEqual({ name: "Bob" });
  });

  it("an object over 64 KiB is refused with STATE_TOO_LARGE and nothing is stored", async () => {
    const session = "st-size";
    const alice = await socket();
    const chunk = "x".repeat(30_000);
    expect(await publishState(alice, session, set("doc", ["a"], chunk))).toMatchObject({ op: "published" });
    expect(await publishState(alice, session, set("doc", ["b"], chunk))).toMatchObject({ op: "published" });
    expect(await publishState(alice, session, set("doc", ["c"], chunk))).toMatchObject({
      op: "error",
      code: "STATE_TOO_LARGE",
    });
    expect(await storedStateSeqs(stack.nc, session)).toHaveLength(2);
  });

  it("the 101st object is refused with STATE_TOO_LARGE; deleting one makes room", async () => {
    const session = "st-count";
    for (let i = 0; i < 100; i++) await agentStateOp(stack.nc, session, set(`o${i}`, [], i));
    const alice = await socket();
    expect(await publishState(alice, session, set("o100", [], 100))).toMatchObject({ code: "STATE_TOO_LARGE" });
    expect(await storedStateSeqs(stack.nc, session)).toHaveLength(100);
    expect(await publishState(alice, session, { object: "o0", op: "delete", path: [] } as StateOp)).toMatchObject({
      op: "published",
    });
    expect(await publishState(alice, session, set("o100", [], 100))).toMatchObject({ op: "published" });
  });

  it("more than maxStateOpsPerSecond ops on a socket are RATE_LIMITED (retryable) and not stored", async () => {
    const session = "st-rate";
    const alice = await socket();
    const started = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        publishState(alice, session, { object: "counter", op: "increment", path: ["n"], by: 1 } as StateOp).then(
          (r) => ({ i, r }),
        ),
      ),
    );
    const published = replies.filter(({ r }) => r.op === "published");
    const limited = replies.filter(({ r }) => r.op === "error" && r.code === "RATE_LIMITED");
    expect(published.length + limited.length).toBe(80);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.r).toMatchObject({ retryable: true });
    // The default 50 per second: a burst of 50, plus what refilled while the frames came in.
    const refill = Math.ceil((50 * (performance.now() - started)) / 1000);
    expect(published.length).toBeLessThanOrEqual(50 + refill);
    expect(await storedStateSeqs(stack.nc, session)).toHaveLength(published.length);
    expect((await storedState(stack.nc, session)).objects.counter?.value).toEqual({ n: published.length });
  });
});

describe("attach {state: true}", () => {
  /** Applies the socket's events of `session` after the snapshot, like a client does. */
  function view(socket: RawSocket, snapshot: StateFrame) {
    let state = { seq: snapshot.seq, objects: snapshot.objects };
    const seqs: number[] = [];
    for (const e of socket.events(snapshot.session)) {
      seqs.push(e.seq);
      state = stepState(state, { seq: e.seq, event: e.event as never }).state;
    }
    return { state, seqs };
  }

  it("sends the fold at `from` right after attached, then every later change with no gap and no duplicate", async () => {
    const session = "st-attach";
    const alice = await socket();
    await publishState(alice, session, set("cart", [], { items: [] }));
    await alice.request({ op: "publish", session, event: { type: "input", data: { text: "hi" } } });
    await agentStateOp(stack.nc, session, { object: "agent-plan", op: "set", path: [], value: { step: 1 } });
    // Changes keep coming from a user and an agent while the second device attaches.
    let writing = true;
    const writers = (async () => {
      let i = 0;
      while (writing) {
        await publishState(alice, session, { object: "cart", op: "insert", path: ["items"], value: i } as StateOp);
        await agentStateOp(stack.nc, session, { object: "agent-plan", op: "increment", path: ["step"] } as StateOp);
        i++;
      }
    })();
    await waitFor(async () => (await storedStateSeqs(stack.nc, session)).length > 10);
    const bob = await socket({ sub: "bob" });
    const { attached, state, next } = await attachWithState(bob, session);
    expect(next).toBe(state); // nothing between attached and the state frame
    expect(state.seq).toBe((attached as { from: number }).from);
    expect(state.objects).toEqual((await storedState(stack.nc, session, state.seq)).objects);
    expect(bob.events(session).every((e) => e.seq > state.seq)).toBe(true);
    await waitFor(() => bob.events(session).length > 6);
    writing = false;
    await writers;
    const final = await storedState(stack.nc, session);
    await waitFor(() => view(bob, state).state.seq >= final.seq, { message: "the device caught up" });
    const { state: bobState, seqs } = view(bob, state);
    expect(bobState.objects).toEqual(final.objects);
    const stored = (await storedStateSeqs(stack.nc, session)).filter((s) => s > state.seq);
    expect(seqs.filter((s) => stored.includes(s))).toEqual(stored); // every change, once, in order
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.every((s) => s > state.seq)).toBe(true); // nothing the snapshot already holds
  });

  it("a late joiner gets the current state without the history; a past position gets the fold up to it", async () => {
    const session = "st-late";
    const alice = await socket();
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await publishState(alice, session, { object: "page", op: "merge", path: [], value: { i } } as StateOp);
      seqs.push((r as { seq: number }).seq);
    }
    const late = await socket({ sub: "carol" });
    const { state } = await attachWithState(late, session);
    expect(state.objects.page).toMatchObject({ value: { i: 4 }, version: seqs[4], updatedBy: { id: "alice" } });
    await late.request({ op: "ping" });
    expect(late.events(session)).toEqual([]);

    const past = await socket({ sub: "dave" });
    const epoch = epochOf(late, session);
    const { attached, state: then } = await attachWithState(past, session, { epoch, seq: seqs[1] });
    expect((attached as { from: number }).from).toBe(seqs[1]);
    expect(then.objects.page).toMatchObject({ value: { i: 1 }, version: seqs[1] });
    await past.waitEvents(session, 3);
    expect(view(past, then).state.objects).toEqual((await storedState(stack.nc, session)).objects);
  });
});

function epochOf(socket: RawSocket, session: string): string {
  const attached = socket.frames.find((f) => f.op === "attached" && f.session === session) as { epoch: string };
  return attached.epoch;
}
