import { describe, expect, it } from "vitest";
import { MemoryCursorStore, MemoryStream, subjectMatches } from "./memory-stream.ts";

const data = new Uint8Array([1]);

describe("subjectMatches", () => {
  it.each([
    ["tl.s1.>", "tl.s1.out.agent.a", true],
    ["tl.s1.>", "tl.s10.out.agent.a", false],
    ["tl.s1.>", "tl.s1", false],
    ["tl.*.in.>", "tl.s1.in.user.u", true],
    ["tl.*.in.>", "tl.s1.out.user.u", false],
    ["tl.s1.out.agent.a", "tl.s1.out.agent.a", true],
    ["tl.s1.out.agent", "tl.s1.out.agent.a", false],
  ])("%s ~ %s → %s", (filter, subject, matches) => {
    expect(subjectMatches(filter, subject)).toBe(matches);
  });
});

describe("MemoryStream", () => {
  it("reads one session after a seq, in order and in batches, up to what was stored when the read began", async () => {
    const stream = new MemoryStream({ batch: 2 });
    for (let i = 0; i < 3; i++) {
      stream.append("tl.a.out.agent.x", data);
      stream.append("tl.b.out.agent.x", data);
    }
    const batches: number[][] = [];
    for await (const batch of stream.read("tl.a.>", 1)) {
      batches.push(batch.map((m) => m.seq));
      stream.append("tl.a.out.agent.x", data); // stored after the read began: not part of it
    }
    expect(batches).toEqual([[3, 5]]);
    expect(await stream.streamState()).toEqual({ epoch: "memory", firstSeq: 1, lastSeq: 7 });
  });

  it("a removed message is gone from reads and messageAt; removing the oldest moves firstSeq", async () => {
    const stream = new MemoryStream();
    for (let i = 0; i < 4; i++) stream.append("tl.a.out.agent.x", data);
    stream.remove(3);
    expect(await stream.messageAt(3)).toBeUndefined();
    stream.remove(1);
    expect(await stream.streamState()).toMatchObject({ firstSeq: 2, lastSeq: 4 });
    const seqs: number[] = [];
    for await (const batch of stream.read("tl.>", 0)) seqs.push(...batch.map((m) => m.seq));
    expect(seqs).toEqual([2, 4]);
  });

  it("options: headersOnly empties data, since starts at a store time (seq ≤ after still skipped)", async () => {
    const stream = new MemoryStream();
    const first = stream.append("tl.a.out.agent.x", data);
    first.storedAt = 1000;
    const second = stream.append("tl.a.out.agent.x", data);
    second.storedAt = 2000;
    stream.append("tl.a.out.agent.x", data).storedAt = 3000;
    const read = async (after: number, options: { since?: number; headersOnly?: boolean }) => {
      const got: { seq: number; bytes: number }[] = [];
      for await (const batch of stream.read("tl.a.>", after, options)) {
        got.push(...batch.map((m) => ({ seq: m.seq, bytes: m.data.length })));
      }
      return got;
    };
    expect(await read(0, { since: 2000 })).toEqual([
      { seq: 2, bytes: 1 },
      { seq: 3, bytes: 1 },
    ]);
    expect(await read(2, { since: 1000, headersOnly: true })).toEqual([{ seq: 3, bytes: 0 }]);
  });

  it("recreate starts a new epoch from seq 1", async () => {
    const stream = new MemoryStream({ epoch: "e1" });
    stream.append("tl.a.out.agent.x", data);
    stream.recreate("e2");
    expect(await stream.streamState()).toEqual({ epoch: "e2", firstSeq: 1, lastSeq: 0 });
  });
});

describe("MemoryCursorStore", () => {
  it("moves forward only within an epoch, and takes any position of another epoch", async () => {
    const cursors = new MemoryCursorStore();
    cursors.set("s", "u", "d", { epoch: "e1", seq: 5 });
    cursors.set("s", "u", "d", { epoch: "e1", seq: 3 });
    expect(await cursors.get("s", "u", "d")).toEqual({ epoch: "e1", seq: 5 });
    cursors.set("s", "u", "d", { epoch: "e2", seq: 1 });
    expect(await cursors.get("s", "u", "d")).toEqual({ epoch: "e2", seq: 1 });
    expect(await cursors.get("s", "u", "other")).toBeUndefined();
  });
});
