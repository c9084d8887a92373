import type { SessionEvent, SessionRecord } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { EventDelivery } from "./event-delivery.ts";

const record = (seq: number): SessionRecord => ({
  session: "s1",
  seq,
  event: { id: `ev-${seq}`, type: "note", data: {}, ts: 0 } as unknown as SessionEvent,
});

function delivery(limit?: number): EventDelivery {
  return new EventDelivery("s1", () => undefined, limit);
}

/** Seqs of every event `d` hands to a listener added now (backlog included). */
function listen(d: EventDelivery): number[] {
  const seqs: number[] = [];
  d.onEvent((r) => seqs.push(r.seq));
  return seqs;
}

/** Lets queued microtasks (a new listener's backlog hand-over) run. */
const microtasks = () => Promise.resolve();

/** What a listener added now has received once the backlog hand-over ran and `seq` was delivered. */
async function seenByNewListener(d: EventDelivery, seq: number): Promise<number[]> {
  const seqs = listen(d);
  await microtasks();
  d.deliverEvent(record(seq));
  return seqs;
}

describe("EventDelivery", () => {
  // Replaces the one-macrotask hold (setTimeout 0) that made listeners registered after `await attach()` see the replay.
  it("hands what arrived before anyone subscribed to every consumer subscribing before the next delivery", async () => {
    const d = delivery();
    d.deliverEvent(record(1));
    d.deliverEvent(record(2));
    d.deliverSynced(2);
    const a = listen(d);
    const b = listen(d);
    const syncs: number[] = [];
    d.onSynced((seq) => syncs.push(seq));
    const iterator = d.events()[Symbol.asyncIterator]();
    expect(a).toEqual([]); // never called from inside onEvent()
    await microtasks();
    expect([a, b, syncs]).toEqual([[1, 2], [1, 2], [2]]);
    d.deliverEvent(record(3));
    expect([a, b]).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push((await iterator.next()).value?.seq);
    expect(seen).toEqual([1, 2, 3]);
  });

  it("a listener's backlog always comes before a newer delivery to it", () => {
    const d = delivery();
    d.deliverEvent(record(1));
    const seqs = listen(d);
    d.deliverEvent(record(2)); // synchronously, before the hand-over microtask
    expect(seqs).toEqual([1, 2]);
  });

  it("consumers added after something was delivered see events from then on", async () => {
    const d = delivery();
    d.deliverEvent(record(1));
    d.onEvent(() => {});
    d.deliverEvent(record(2));
    expect(await seenByNewListener(d, 3)).toEqual([3]);
  });

  it("an unsubscribed listener gets nothing more, not even its backlog", async () => {
    const d = delivery();
    d.deliverEvent(record(1));
    const seqs: number[] = [];
    const off = d.onEvent((r) => seqs.push(r.seq));
    off();
    await microtasks();
    expect(seqs).toEqual([]);
  });

  it("stops keeping the backlog beyond its limit: later consumers start at live", async () => {
    const d = delivery(2);
    for (const seq of [1, 2, 3]) d.deliverEvent(record(seq));
    expect(await seenByNewListener(d, 4)).toEqual([4]);
  });

  it("after the end, new iterators end at once (failing with the end's error)", async () => {
    const d = delivery();
    d.deliverEvent(record(1));
    const error = new Error("gone");
    d.end(error as never);
    await expect(d.events()[Symbol.asyncIterator]().next()).rejects.toBe(error);
  });
});
