import type { SessionRecord, StateOp } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { type StateChange, StateView } from "./state-view.ts";

const user = { kind: "user", id: "u1" } as const;
const record = (seq: number, op: StateOp, id = `ev-${seq}`): SessionRecord => ({
  session: "s1",
  seq,
  event: { id, type: "state", from: user, ts: 0, data: op },
});

describe("StateView", () => {
  it("a snapshot replacing the state reports only the objects that differ", () => {
    const view = new StateView("s1");
    view.apply(record(1, { object: "a", op: "set", path: [], value: 1 }));
    view.apply(record(2, { object: "b", op: "set", path: [], value: 2 }));
    const changes: StateChange[] = [];
    view.onChange((c) => changes.push(c));
    view.replace(9, {
      a: { value: 1, version: 1, updatedBy: user },
      c: { value: 3, version: 8, updatedBy: user },
      bad: { value: 4 } as never,
    });
    expect(changes.map((c) => [c.object, c.value, c.version, c.seq])).toEqual([
      ["b", undefined, 0, 9],
      ["c", 3, 8, 9],
    ]);
    expect(Object.keys(view.state.objects)).toEqual(["a", "c"]);
    view.reset();
    expect(view.state).toEqual({ seq: 0, objects: {} });
  });

  it("a write whose event a reloaded snapshot covers settles from the snapshot", async () => {
    const view = new StateView("s1");
    // The snapshot still carries the write's seq as the object's version: applied.
    const kept = view.track("w1", "a", Promise.resolve({ seq: 5 }));
    // Another op changed the object after the write: its effect is unknown, reported as a conflict.
    const overwritten = view.track("w2", "b", Promise.resolve({ seq: 6 }));
    await Promise.resolve();
    view.replace(7, {
      a: { value: 1, version: 5, updatedBy: user },
      b: { value: 2, version: 7, updatedBy: user },
    });
    await expect(kept).resolves.toBe(5);
    await expect(overwritten).rejects.toMatchObject({ code: "STATE_CONFLICT" });
  });

  it("a write published after the view passed its seq settles at once; the end fails the rest", async () => {
    const view = new StateView("s1");
    view.replace(10, { a: { value: 1, version: 4, updatedBy: user } });
    await expect(view.track("w1", "a", Promise.resolve({ seq: 4 }))).resolves.toBe(4);
    const waiting = view.track("w2", "a", new Promise(() => {}));
    view.end(new Error("ended") as never);
    await expect(waiting).rejects.toThrow("ended");
  });

  it("values are frozen: a caller cannot make this device diverge", () => {
    const view = new StateView("s1");
    view.apply(record(1, { object: "a", op: "set", path: [], value: { list: [1] } }));
    const value = view.object("a")?.value as { list: number[] };
    expect(() => value.list.push(2)).toThrow(TypeError);
    expect(() => {
      (view.state.objects as Record<string, unknown>).b = 1;
    }).toThrow(TypeError);
  });
});
