import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  emptySessionState,
  foldState,
  type JsonValue,
  mergePatch,
  previewStateOp,
  type SessionState,
  StateLimits,
  type StateOp,
  type StateRecord,
  stateOpProblem,
  stepState,
} from "./state.ts";
import type { ParticipantKind } from "./subjects.ts";

const user = { kind: "user" as ParticipantKind, id: "u1" };
const agent = { kind: "agent" as ParticipantKind, id: "a1" };
let seq = 0;
const rec = (data: unknown, from = user, type = "state"): StateRecord => ({
  seq: ++seq,
  event: { id: `e${seq}`, type, from, ts: 0, data },
});
const run = (...records: StateRecord[]) => foldState(emptySessionState(), records);
const objectValue = (state: SessionState, name: string) => state.objects[name]?.value;

describe("state operations", () => {
  it.each<[string, StateOp[], JsonValue | undefined]>([
    ["set the whole value", [{ object: "o", op: "set", path: [], value: { a: 1 } }], { a: 1 }],
    ["set a nested key creates parents", [{ object: "o", op: "set", path: ["a", "b"], value: 2 }], { a: { b: 2 } }],
    [
      "set a list element",
      [
        { object: "o", op: "set", path: ["l"], value: [1, 2] },
        { object: "o", op: "set", path: ["l", 1], value: 9 },
      ],
      { l: [1, 9] },
    ],
    [
      "delete a key",
      [
        { object: "o", op: "set", path: [], value: { a: 1, b: 2 } },
        { object: "o", op: "delete", path: ["a"] },
      ],
      { b: 2 },
    ],
    [
      "delete a missing key is no change",
      [
        { object: "o", op: "set", path: ["a"], value: 1 },
        { object: "o", op: "delete", path: ["x", "y"] },
      ],
      { a: 1 },
    ],
    [
      "delete the object",
      [
        { object: "o", op: "set", path: [], value: 1 },
        { object: "o", op: "delete", path: [] },
      ],
      undefined,
    ],
    [
      "merge is RFC 7386 (null deletes, objects merge)",
      [
        { object: "o", op: "set", path: [], value: { a: 1, b: { c: 1, d: 1 } } },
        { object: "o", op: "merge", path: [], value: { a: null, b: { d: 2 }, e: 3 } },
      ],
      { b: { c: 1, d: 2 }, e: 3 },
    ],
    [
      "increment from nothing",
      [
        { object: "o", op: "increment", path: ["n"] },
        { object: "o", op: "increment", path: ["n"], by: 4 },
      ],
      { n: 5 },
    ],
    [
      "insert appends and inserts, remove drops an index",
      [
        { object: "o", op: "insert", path: ["l"], value: "a" },
        { object: "o", op: "insert", path: ["l"], value: "c" },
        { object: "o", op: "insert", path: ["l"], index: 1, value: "b" },
        { object: "o", op: "insert", path: ["l"], index: 99, value: "d" },
        { object: "o", op: "remove", path: ["l"], index: 0 },
        { object: "o", op: "remove", path: ["l"], index: 42 },
      ],
      { l: ["b", "c", "d"] },
    ],
  ])("%s", (_name, ops, expected) => {
    expect(objectValue(run(...ops.map((op) => rec(op))), "o")).toEqual(expected);
  });

  it("an applied op sets the version to its seq and records the author; non-state events only advance seq", () => {
    const a = rec({ object: "o", op: "set", path: [], value: 1 }, agent);
    const note = rec({ text: "x" }, user, "note");
    const state = run(a, note);
    expect(state.objects.o).toEqual({ value: 1, version: a.seq, updatedBy: { kind: "agent", id: "a1" } });
    expect(state.seq).toBe(note.seq);
  });

  it.each<[string, StateRecord[], StateRecord, string]>([
    [
      "ifVersion mismatch → conflict",
      [rec({ object: "o", op: "set", path: [], value: 1 })],
      rec({ object: "o", op: "set", path: [], value: 2, ifVersion: 0 }),
      "conflict",
    ],
    [
      "ifVersion 0 on a missing object applies",
      [],
      rec({ object: "o", op: "set", path: [], value: 2, ifVersion: 0 }),
      "applied",
    ],
    [
      "a key of a number → path",
      [rec({ object: "o", op: "set", path: ["a"], value: 1 })],
      rec({ object: "o", op: "set", path: ["a", "b"], value: 1 }),
      "path",
    ],
    [
      "increment of a string → path",
      [rec({ object: "o", op: "set", path: ["a"], value: "x" })],
      rec({ object: "o", op: "increment", path: ["a"] }),
      "path",
    ],
    [
      "insert into a non-list → path",
      [rec({ object: "o", op: "set", path: ["a"], value: {} })],
      rec({ object: "o", op: "insert", path: ["a"], value: 1 }),
      "path",
    ],
    [
      "a user writing an agent- object → forbidden",
      [],
      rec({ object: "agent-plan", op: "set", path: [], value: 1 }, user),
      "forbidden",
    ],
    [
      "an agent writing an agent- object → applied",
      [],
      rec({ object: "agent-plan", op: "set", path: [], value: 1 }, agent),
      "applied",
    ],
    ["a malformed op → invalid", [], rec({ object: "o", op: "explode", path: [] }), "invalid"],
    [
      "an object above 64 KiB → too_large",
      [],
      rec({ object: "o", op: "set", path: [], value: "x".repeat(StateLimits.maxObjectBytes) }),
      "too_large",
    ],
  ])("%s", (_name, before, record, outcome) => {
    const state = run(...before);
    const step = stepState(state, record);
    expect(step.outcome).toBe(outcome);
    if (outcome !== "applied") expect(step.state.objects).toBe(state.objects); // nothing changed
    expect(step.state.seq).toBe(record.seq);
  });

  it("the 101st object is too_large; deleting one makes room", () => {
    const records = Array.from({ length: StateLimits.maxObjects }, (_, i) =>
      rec({ object: `o${i}`, op: "set", path: [], value: i }),
    );
    const full = run(...records);
    expect(stepState(full, rec({ object: "extra", op: "set", path: [], value: 1 })).outcome).toBe("too_large");
    const freed = stepState(full, rec({ object: "o0", op: "delete", path: [] })).state;
    expect(stepState(freed, rec({ object: "extra", op: "set", path: [], value: 1 })).outcome).toBe("applied");
  });

  it("records at or below the state's seq are duplicates (replays after a reconnect change nothing)", () => {
    const a = rec({ object: "o", op: "increment", path: ["n"] });
    const once = run(a);
    expect(stepState(once, a)).toEqual({ state: once, outcome: "duplicate" });
  });

  it("inputs are not mutated", () => {
    const base = run(rec({ object: "o", op: "set", path: [], value: { l: [1], m: { a: 1 } } }));
    const frozen = JSON.stringify(base);
    run(rec({ object: "o", op: "insert", path: ["l"], value: 2 }));
    stepState(base, rec({ object: "o", op: "merge", path: ["m"], value: { b: 2 } }));
    stepState(base, rec({ object: "o", op: "insert", path: ["l"], value: 2 }));
    expect(JSON.stringify(base)).toBe(frozen);
  });

  it("previewStateOp predicts the verdict without changing the state", () => {
    const state = run(rec({ object: "o", op: "set", path: [], value: 1 }));
    expect(previewStateOp(state, { object: "o", op: "increment", path: [] }, user)).toBe("applied");
    expect(previewStateOp(state, { object: "o", op: "set", path: [], value: 1, ifVersion: 0 }, user)).toBe("conflict");
    expect(state.objects.o?.value).toBe(1);
  });

  it.each([
    [{ object: "bad name", op: "set", path: [], value: 1 }, "object must match"],
    [{ object: "o", op: "set", path: "a", value: 1 }, "path must be an array"],
    [{ object: "o", op: "set", path: [-1], value: 1 }, "path segments"],
    [{ object: "o", op: "set", path: [] }, "set needs a JSON value"],
    [{ object: "o", op: "merge", path: [], value: [1] }, "merge needs a JSON object"],
    [{ object: "o", op: "increment", path: [], by: Number.NaN }, "by must be a finite number"],
    [{ object: "o", op: "remove", path: [] }, "remove needs an index"],
    [{ object: "o", op: "set", path: [], value: 1, ifVersion: -1 }, "ifVersion"],
  ])("stateOpProblem(%j) names the problem", (op, problem) => {
    expect(stateOpProblem(op)).toContain(problem);
  });

  it("mergePatch follows RFC 7386's examples", () => {
    expect(mergePatch({ a: "b" }, { a: "c" })).toEqual({ a: "c" });
    expect(mergePatch({ a: "b" }, { b: "c" })).toEqual({ a: "b", b: "c" });
    expect(mergePatch({ a: "b" }, { a: null })).toEqual({});
    expect(mergePatch({ a: [{ b: "c" }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(mergePatch(["a", "b"], { a: "b" })).toEqual({ a: "b" });
  });
});

// Three devices and an agent write random ops; each participant sees the stored ops from its own
// random resume points (a reconnect replays from its last position: duplicates, never gaps). Every
// participant ends equal to a sequential replay of the stored operations.
describe("convergence (property)", () => {
  const key = fc.constantFrom("a", "b", "c");
  const path = fc.array(fc.oneof(key, fc.nat(3)), { maxLength: 3 });
  const json = fc.oneof(
    fc.integer(),
    fc.string({ maxLength: 3 }),
    fc.constant(null),
    fc.dictionary(key, fc.integer(), { maxKeys: 2 }),
    fc.array(fc.integer(), { maxLength: 3 }),
  );
  const op = fc.oneof(
    fc.record({ object: fc.constantFrom("cart", "agent-plan"), op: fc.constant("set"), path, value: json }),
    fc.record({ object: fc.constantFrom("cart", "agent-plan"), op: fc.constant("delete"), path }),
    fc.record({
      object: fc.constantFrom("cart", "agent-plan"),
      op: fc.constant("merge"),
      path,
      value: fc.dictionary(key, json, { maxKeys: 2 }),
    }),
    fc.record({
      object: fc.constantFrom("cart", "agent-plan"),
      op: fc.constant("increment"),
      path,
      by: fc.integer({ min: -3, max: 3 }),
    }),
    fc.record({
      object: fc.constantFrom("cart", "agent-plan"),
      op: fc.constant("insert"),
      path,
      value: json,
      index: fc.nat(4),
    }),
    fc.record({ object: fc.constantFrom("cart", "agent-plan"), op: fc.constant("remove"), path, index: fc.nat(4) }),
    fc.record({
      object: fc.constantFrom("cart", "agent-plan"),
      op: fc.constant("set"),
      path,
      value: json,
      ifVersion: fc.nat(6),
    }),
  );
  const writers = [
    user,
    { kind: "user" as ParticipantKind, id: "u2" },
    { kind: "operator" as ParticipantKind, id: "o1" },
    agent,
  ];

  it("every participant's view equals the sequential replay of the stored ops", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), op), { minLength: 1, maxLength: 60 }),
        fc.array(fc.array(fc.nat(60), { maxLength: 4 }), { minLength: 4, maxLength: 4 }),
        (writes, disconnects) => {
          const stored: StateRecord[] = writes.map(([w, o], i) => ({
            seq: i + 1,
            event: { id: `e${i}`, type: "state", from: writers[w]!, ts: 0, data: o },
          }));
          const replay = foldState(emptySessionState(), stored);
          for (const points of disconnects) {
            // Delivery with reconnects: after a drop at index d the participant resumes from its last applied seq,
            // and the gateway replays from a little earlier (a stale cursor): duplicates that the fold must ignore.
            let view = emptySessionState();
            let i = 0;
            for (const d of [...points].sort((x, y) => x - y)) {
              for (; i < Math.min(d, stored.length); i++) view = stepState(view, stored[i]!).state;
              i = Math.max(0, i - 2);
            }
            for (; i < stored.length; i++) view = stepState(view, stored[i]!).state;
            expect(view).toEqual(replay);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
