import { describe, expect, test } from "vitest";
import { FeedRecord } from "../feed-record.ts";
import type { FeedRegistry } from "../feed-registry.ts";
import type { FeedSubscriber } from "../session-feed.ts";
import { LiveTap } from "./live-wait.ts";

/** A feed registry with one feed whose records the test dispatches, as the session feed does (in order). */
function scriptedFeed() {
  const subscribers = new Set<FeedSubscriber>();
  const feed = {
    ready: Promise.resolve(),
    add: (s: FeedSubscriber) => subscribers.add(s),
    remove: (s: FeedSubscriber) => subscribers.delete(s),
  };
  const registry = { acquire: () => feed, release: () => {} } as unknown as FeedRegistry;
  const dispatch = (seq: number) => {
    const record = new FeedRecord(
      "s1",
      seq,
      "tl.s1.out.a",
      { id: `e${seq}`, type: "note", from: { kind: "agent", id: "a" }, ts: 1, data: { pad: "x".repeat(100) } },
      undefined,
    );
    for (const s of subscribers) s.onRecord(record);
  };
  return { registry, dispatch, subscribers };
}

const keep = (maxBytes: number) => ({ maxBytes, toJson: (r: FeedRecord) => ({ seq: r.seq }) });

describe("LiveTap keeping a session's records", () => {
  test("takeAfter returns what the feed dispatched after the reader's seq, once, as a complete read", async () => {
    const { registry, dispatch } = scriptedFeed();
    using tap = await LiveTap.open(registry, "s1", () => true, keep(1_000_000));
    dispatch(3);
    dispatch(5);
    dispatch(8);
    expect(await tap.next(5, 1000)).toBe(true);
    expect(tap.takeAfter(5)).toEqual({ chunks: [{ seq: 8, json: [{ seq: 8 }] }], lastSeq: 8, complete: true });
    expect(tap.takeAfter(8)).toEqual({ chunks: [], lastSeq: 8, complete: true });
    dispatch(9);
    expect(tap.takeAfter(8)?.chunks.map((c) => c.seq)).toEqual([9]);
  });

  test("past the byte bound it says 'read the stream' once, then keeps again", async () => {
    const { registry, dispatch } = scriptedFeed();
    using tap = await LiveTap.open(registry, "s1", () => true, keep(600));
    for (let seq = 1; seq <= 5; seq++) dispatch(seq);
    expect(tap.takeAfter(0)).toBeUndefined();
    dispatch(6);
    expect(tap.takeAfter(5)?.chunks.map((c) => c.seq)).toEqual([6]);
  });

  test("a tap without keep never answers from memory", async () => {
    const { registry, dispatch } = scriptedFeed();
    using tap = await LiveTap.open(registry, "s1", () => true);
    dispatch(1);
    expect(tap.takeAfter(0)).toBeUndefined();
  });
});
