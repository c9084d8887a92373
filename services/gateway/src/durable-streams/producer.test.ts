import { describe, expect, test } from "vitest";
import { decideProducer, type ProducerState, withProducer } from "./producer.ts";

const at = (epoch: number, lastSeq: number): ProducerState => ({ epoch, lastSeq, updatedAt: 1 });

describe("decideProducer (Durable Streams §5.2.1)", () => {
  test.each([
    [
      "a new producer starts at seq 0",
      undefined,
      0,
      0,
      { status: "accepted", next: { epoch: 0, lastSeq: 0, updatedAt: 9 } },
    ],
    ["a new producer skipping seq 0", undefined, 0, 3, { status: "sequence-gap", expected: 0, received: 3 }],
    ["the next seq", at(1, 4), 1, 5, { status: "accepted", next: { epoch: 1, lastSeq: 5, updatedAt: 9 } }],
    ["a retry of the last seq", at(1, 4), 1, 4, { status: "duplicate", lastSeq: 4 }],
    ["an older seq", at(1, 4), 1, 2, { status: "duplicate", lastSeq: 4 }],
    ["a skipped seq", at(1, 4), 1, 7, { status: "sequence-gap", expected: 5, received: 7 }],
    ["a zombie's older epoch", at(2, 0), 1, 9, { status: "stale-epoch", currentEpoch: 2 }],
    ["a new epoch at seq 0", at(1, 4), 2, 0, { status: "accepted", next: { epoch: 2, lastSeq: 0, updatedAt: 9 } }],
    ["a new epoch not at seq 0", at(1, 4), 2, 1, { status: "invalid-epoch-seq" }],
  ])("%s", (_name, state, epoch, seq, expected) => {
    expect(decideProducer(state, epoch, seq, 9)).toEqual(expected);
  });
});

test("withProducer keeps at most max states, forgetting the least recently updated others", () => {
  const states = {
    a: { ...at(0, 0), updatedAt: 1 },
    b: { ...at(0, 0), updatedAt: 3 },
    c: { ...at(0, 0), updatedAt: 2 },
  };
  const next = withProducer(states, "d", { ...at(0, 0), updatedAt: 4 }, 3);
  expect(Object.keys(next).sort()).toEqual(["b", "c", "d"]);
  expect(withProducer(states, "a", at(1, 0), 3)).toHaveProperty("a.epoch", 1);
});
