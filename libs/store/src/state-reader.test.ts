import { encodeMsgpack, type SessionEvent, Subjects } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { MemoryStream } from "./memory-stream.ts";
import { foldStoredState } from "./state-reader.ts";

const subjects = new Subjects("tl");

function store(
  stream: MemoryStream,
  session: string,
  lane: string,
  kind: string,
  id: string,
  event: Partial<SessionEvent>,
) {
  const full = { id: `e${Math.random().toString(36).slice(2)}`, ts: 1, from: { kind, id }, ...event };
  return stream.append(`tl.${session}.${lane}.${kind}.${id}`, encodeMsgpack(full)).seq;
}

describe("foldStoredState", () => {
  it("folds the session's state events only, up to a seq, and continues from a start", async () => {
    const stream = new MemoryStream();
    const a = store(stream, "s1", "st", "user", "u1", {
      type: "state",
      data: { object: "cart", op: "set", path: [], value: { n: 1 } },
    });
    store(stream, "s1", "in", "user", "u1", { type: "input", data: { text: "hi" } });
    store(stream, "s2", "st", "user", "u1", {
      type: "state",
      data: { object: "other", op: "set", path: [], value: 1 },
    });
    const b = store(stream, "s1", "st", "agent", "a1", {
      type: "state",
      data: { object: "cart", op: "increment", path: ["n"] },
    });

    const all = await foldStoredState(stream, subjects, "s1");
    expect(all.seq).toBe(b);
    expect(all.objects).toEqual({ cart: { value: { n: 2 }, version: b, updatedBy: { kind: "agent", id: "a1" } } });

    const atA = await foldStoredState(stream, subjects, "s1", { upToSeq: b - 1 });
    expect(atA.objects).toEqual({ cart: { value: { n: 1 }, version: a, updatedBy: { kind: "user", id: "u1" } } });

    const continued = await foldStoredState(stream, subjects, "s1", { start: atA });
    expect(continued).toEqual(all);
  });

  it("pins authors to their subject and skips undecodable records", async () => {
    const stream = new MemoryStream();
    // A user's envelope claiming to be an agent cannot write an agent-owned object.
    store(stream, "s1", "st", "user", "u1", {
      type: "state",
      from: { kind: "agent", id: "a1" } as never,
      data: { object: "agent-plan", op: "set", path: [], value: 1 },
    });
    stream.append("tl.s1.st.user.u1", new Uint8Array([0xc1]));
    const invalid: number[] = [];
    const state = await foldStoredState(stream, subjects, "s1", { onInvalid: (_s, seq) => invalid.push(seq) });
    expect(state.objects).toEqual({});
    expect(invalid).toEqual([2]);
  });
});
