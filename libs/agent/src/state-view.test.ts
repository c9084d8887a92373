import { ErrorCode, emptySessionState, foldState, type StateOp } from "@threadline/protocol";
import type { SessionStateStore, StateFollower, SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { createStateHandle, type StateWriter } from "./state-handle.ts";
import { checkStateLane } from "./state-lane.ts";
import { SessionStateView, WRITE_CATCH_UP_MS } from "./state-view.ts";

/** An in-memory lane: `stored` is the session's st lane; `deliver()` hands the follower what it has not seen. */
function memoryLane() {
  const stored: SubjectRecord[] = [];
  let live: ((r: SubjectRecord) => void) | undefined;
  let delivered = 0;
  let seq = 0;
  const store: SessionStateStore = {
    async read() {
      const s = foldState(emptySessionState(), stored);
      return { seq: Math.max(s.seq, seq), objects: s.objects };
    },
    async catchUp(_session, after, onRecord, atLeast) {
      for (const r of stored) if (r.seq > after) onRecord(r);
      return Math.max(atLeast ?? seq, after);
    },
    async follow(_session, after, onRecord): Promise<StateFollower> {
      delivered = after;
      live = onRecord;
      return {
        lastSeq: after,
        close: async () => {
          live = undefined;
        },
      };
    },
  };
  const add = (data: StateOp, from = { kind: "user", id: "alice" }, id = `e${seq + 1}`, skip = 0) => {
    seq += 1 + skip;
    const record = {
      session: "s1",
      seq,
      subject: `tl.s1.st.${from.kind}.${from.id}`,
      event: { id, type: "state", from, ts: 0, data },
    };
    stored.push(record as SubjectRecord);
    return seq;
  };
  const deliver = () => {
    for (const r of stored) if (r.seq > delivered) live?.(r);
    delivered = seq;
  };
  return { store, add, deliver, stored };
}

const agentFrom = { kind: "agent", id: "bot" };

function writerFor(lane: ReturnType<typeof memoryLane>, onPublish: (seq: number) => void = () => {}): StateWriter {
  return {
    from: agentFrom,
    check() {},
    onRelease: () => () => {},
    async publish(op, id) {
      const seq = lane.add(op, agentFrom, id);
      onPublish(seq);
      return { id, seq, duplicate: false, epoch: "e" };
    },
  };
}

describe("SessionStateView", () => {
  it("opens at the snapshot, follows live changes and tells the object's listeners", async () => {
    const lane = memoryLane();
    lane.add({ object: "page", op: "set", path: [], value: { path: "/home" } });
    const view = await SessionStateView.open(lane.store, "s1", agentFrom);
    expect(view.object("page")?.value).toEqual({ path: "/home" });
    const seen: unknown[] = [];
    view.listen("page", (o) => seen.push(o?.value));
    lane.add({ object: "cart", op: "set", path: [], value: [] });
    const v = lane.add({ object: "page", op: "merge", path: [], value: { path: "/shop" } });
    lane.deliver();
    expect(seen).toEqual([{ path: "/shop" }]);
    expect(view.state.seq).toBe(v);
    lane.deliver(); // redelivery after a consumer restart: ignored
    expect(seen).toHaveLength(1);
  });

  it("syncTo reads what the live follower has not delivered yet, up to the given seq", async () => {
    const lane = memoryLane();
    const view = await SessionStateView.open(lane.store, "s1", agentFrom);
    lane.add({ object: "page", op: "set", path: [], value: "/cart" });
    await view.syncTo(5);
    expect(view.object("page")?.value).toBe("/cart");
    expect(view.state.seq).toBe(5);
    lane.deliver(); // the live copy of the same event changes nothing
    expect(view.object("page")?.version).toBe(1);
  });

  it("a write resolves with the new version once applied, rejects with the verdict when another write won", async () => {
    const lane = memoryLane();
    const view = await SessionStateView.open(lane.store, "s1", agentFrom);
    // Deliver right after each store, as a live consumer would.
    const handle = createStateHandle(
      view,
      "agent-plan",
      writerFor(lane, () => queueMicrotask(lane.deliver)),
    );
    const first = await handle.set([], { steps: [] });
    expect(first).toBe(1);
    expect(handle.version).toBe(1);
    // Another agent's op is stored between our pre-check and our op: ours loses on ifVersion.
    const racing = createStateHandle(
      view,
      "agent-plan",
      writerFor(lane, () => queueMicrotask(lane.deliver)),
    );
    lane.add({ object: "agent-plan", op: "set", path: ["steps"], value: ["x"] }, { kind: "agent", id: "other" });
    await expect(racing.set(["steps"], ["mine"], { ifVersion: 1 })).rejects.toMatchObject({
      code: ErrorCode.STATE_CONFLICT,
    });
    expect(handle.get()).toEqual({ steps: ["x"] });
    expect(await handle.delete([])).toBe(0);
  });

  it("a write the live follower does not deliver settles through a catch-up read", async () => {
    const lane = memoryLane();
    const view = await SessionStateView.open(lane.store, "s1", agentFrom);
    const plan = createStateHandle(view, "agent-plan", writerFor(lane)); // nothing is delivered live
    const started = Date.now();
    expect(await plan.insert(["steps"], "pay")).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(WRITE_CATCH_UP_MS - 5);
    expect(plan.get()).toEqual({ steps: ["pay"] });
  });

  it("refuses without storing what the pre-check says is certain to fail", async () => {
    const lane = memoryLane();
    lane.add({ object: "cart", op: "set", path: [], value: { qty: "two" } });
    const view = await SessionStateView.open(lane.store, "s1", agentFrom);
    const cart = createStateHandle(view, "cart", writerFor(lane));
    await expect(cart.increment(["qty"])).rejects.toMatchObject({ code: ErrorCode.STATE_PATH });
    await expect(cart.set([], 1, { ifVersion: 0 })).rejects.toMatchObject({ code: ErrorCode.STATE_CONFLICT });
    await expect(cart.insert(["items"], Number.NaN)).rejects.toMatchObject({ code: ErrorCode.INVALID_FRAME });
    expect(lane.stored).toHaveLength(1);
  });

  it("waitFor resolves at once, on a later change, or rejects on timeout, abort and close", async () => {
    const lane = memoryLane();
    const view = await SessionStateView.open(lane.store, "s1", agentFrom);
    const size = createStateHandle<{ size?: string }>(view, "form", writerFor(lane));
    expect(await size.waitFor((v) => v === undefined)).toBeUndefined();
    const picked = size.waitFor((v) => v?.size !== undefined);
    lane.add({ object: "form", op: "set", path: ["color"], value: "red" });
    lane.add({ object: "form", op: "set", path: ["size"], value: "M" });
    lane.deliver();
    expect(await picked).toEqual({ color: "red", size: "M" });
    await expect(size.waitFor(() => false, { timeoutMs: 5 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    const abort = new AbortController();
    const aborted = size.waitFor(() => false, { signal: abort.signal });
    abort.abort(new Error("stop"));
    await expect(aborted).rejects.toThrow("stop");
    const closing = size.waitFor(() => false);
    await view.close();
    await expect(closing).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });
});

describe("checkStateLane", () => {
  it("keeps state events on lane st and only them, valid and writable by the author's kind", () => {
    const op = { object: "cart", op: "set", path: [], value: 1 };
    expect(() => checkStateLane("s1", "st", "state", op, "agent")).not.toThrow();
    expect(() => checkStateLane("s1", "out", "note", {}, "agent")).not.toThrow();
    expect(() => checkStateLane("s1", "out", "state", op, "agent")).toThrow(/lane "st"/);
    expect(() => checkStateLane("s1", "st", "note", {}, "agent")).toThrow(/only "state"/);
    expect(() => checkStateLane("s1", "st", "state", { ...op, op: "nope" }, "agent")).toThrow(/op must be/);
    expect(() => checkStateLane("s1", "st", "state", { ...op, object: "agent-plan" }, "system")).toThrow(
      expect.objectContaining({ code: ErrorCode.FORBIDDEN }),
    );
  });
});
