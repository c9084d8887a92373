import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import {
  advanceBurstMark,
  type BurstMark,
  emptyBurstMark,
  MAX_PENDING_NOTIFICATIONS,
  NotificationMarks,
} from "./notification-marks.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

describe("advanceBurstMark (pure)", () => {
  const mark = (seq: number, pending: number[] = []): BurstMark<{ n: number }> => ({
    seq,
    ts: seq * 10,
    pending: pending.map((s) => ({ seq: s, at: 1, payload: { n: s } })),
  });
  it.each<[string, BurstMark<{ n: number }>, number, boolean, { seq: number; pending: number[] }]>([
    ["forward, no reservation", mark(5), 9, false, { seq: 9, pending: [] }],
    ["forward with a reservation", mark(5, [5]), 9, true, { seq: 9, pending: [5, 9] }],
    ["never backward (a later trigger settled it first)", mark(9), 5, false, { seq: 9, pending: [] }],
    ["a reservation of the same seq is replaced", mark(9, [9]), 9, true, { seq: 9, pending: [9] }],
  ])("%s", (_name, from, to, reserve, expected) => {
    const { mark: next, dropped } = advanceBurstMark(
      from,
      { seq: to, ts: to * 10 },
      reserve ? { payload: { n: to }, at: 2 } : undefined,
    );
    expect({ seq: next.seq, pending: next.pending.map((p) => p.seq) }).toEqual(expected);
    expect(next.ts).toBe(Math.max(from.seq, to) * 10);
    expect(dropped).toEqual([]);
  });

  it(`keeps at most ${MAX_PENDING_NOTIFICATIONS} reservations, dropping the oldest`, () => {
    const full = mark(
      100,
      Array.from({ length: MAX_PENDING_NOTIFICATIONS }, (_, i) => i + 1),
    );
    const { mark: next, dropped } = advanceBurstMark(full, { seq: 200, ts: 2000 }, { payload: { n: 200 }, at: 3 });
    expect(next.pending).toHaveLength(MAX_PENDING_NOTIFICATIONS);
    expect(dropped.map((p) => p.seq)).toEqual([1]);
    expect(next.pending.at(-1)).toEqual({ seq: 200, at: 3, payload: { n: 200 } });
  });
});

describe("NotificationMarks on nats-server", () => {
  const nats = useProvisionedNats();

  it("create, compare-and-set (a stale read loses), settle a reservation", async () => {
    const marks = new NotificationMarks<{ title: string }>(await new Kvm(nats.nc).open("threadline-notify"));
    const none = await marks.get("s1", "u1");
    expect(none).toEqual({ value: emptyBurstMark(), revision: 0 });
    const first = await marks.advance("s1", "u1", none, { seq: 10, ts: 100 }, { payload: { title: "a" }, at: 5 });
    expect(first?.revision).toBeGreaterThan(0);
    // a second replica decided on the same read: it lost and must re-read
    expect(await marks.advance("s1", "u1", none, { seq: 12, ts: 120 })).toBeUndefined();
    const read = await marks.get("s1", "u1");
    expect(read.value).toEqual({ seq: 10, ts: 100, pending: [{ seq: 10, at: 5, payload: { title: "a" } }] });
    await marks.advance("s1", "u1", read, { seq: 12, ts: 120 });
    await marks.settle("s1", "u1", 10);
    await marks.settle("s1", "u1", 10); // idempotent
    expect((await marks.get("s1", "u1")).value).toEqual({ seq: 12, ts: 120, pending: [] });
  });

  it("a stored value that does not validate reads as no mark at its revision, and is replaced", async () => {
    const kv = await new Kvm(nats.nc).open("threadline-notify");
    const revision = await kv.put("m.s2.u1", JSON.stringify({ seq: "x" }));
    const marks = new NotificationMarks(kv);
    const read = await marks.get("s2", "u1");
    expect(read).toEqual({ value: emptyBurstMark(), revision });
    expect(await marks.advance("s2", "u1", read, { seq: 3, ts: 30 })).toBeDefined();
    expect((await marks.get("s2", "u1")).value.seq).toBe(3);
  });
});
