import { ErrorCode, encodeMsgpack, type StreamState, Subjects, ThreadlineError } from "@threadline/protocol";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import type { RecentEvents } from "./recent-events.ts";
import { type FeedSubscriber, SessionFeed, type SessionFeedOptions } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";
import { startedCache } from "./test-support/recent-cache.ts";

// Pure unit test of the feed's bookkeeping: the live source is a function the
// test drives (so it can repeat and replay messages the way a recovering
// ordered consumer may); the real JetStream path is covered by the
// integration suite.

const subjects = new Subjects();
const SESSION = "s1";

/** `message(from)` … `message(to)`. */
function messages(from: number, to: number): LiveMessage[] {
  return Array.from({ length: to - from + 1 }, (_, i) => message(from + i));
}

function message(seq: number, participant = "a"): LiveMessage {
  return {
    seq,
    subject: subjects.event(SESSION, "out", "agent", participant),
    data: encodeMsgpack({ id: `e${seq}`, type: "note", from: { kind: "agent", id: participant }, ts: 0 }),
  };
}

async function setup(
  lastSeq = 0,
  options: SessionFeedOptions = { ringMaxEvents: 1000, ringMaxBytes: 1 << 20 },
  recent?: RecentEvents,
  log: pino.Logger = pino({ level: "silent" }),
) {
  let epoch = "e1";
  let deliver: (m: LiveMessage) => void = () => {};
  let lost: ((error: ThreadlineError) => void) | undefined;
  const opened: number[] = [];
  let closed = 0;
  const live: LiveSource = {
    async open(_session, onMessage, onLost) {
      opened.push(lastSeq);
      deliver = onMessage;
      lost = onLost;
      return { after: lastSeq, close: () => closed++ };
    },
    async recover() {},
    close() {},
  };
  const history: SessionHistory = {
    async streamState(): Promise<StreamState> {
      return { epoch, firstSeq: 1, lastSeq };
    },
    async messageAt() {
      return undefined;
    },
    async *read() {},
  };
  const metrics = createMetrics();
  const feed = new SessionFeed(SESSION, live, history, options, metrics, log, recent);
  await feed.ready;
  const seen: number[] = [];
  const errors: string[] = [];
  const subscriber: FeedSubscriber = { onRecord: (r) => seen.push(r.seq), onFeedError: (e) => errors.push(e.code) };
  feed.add(subscriber);
  return {
    feed,
    seen,
    errors,
    opened,
    closed: () => closed,
    metrics,
    deliver: (m: LiveMessage) => deliver(m),
    /** What the live source does when it drops the feed's registration. */
    lose: (error: ThreadlineError) => lost?.(error),
    recreateStream: () => {
      epoch = "e2";
    },
  };
}

describe("SessionFeed", () => {
  it("starts after the seq its live source reports", async () => {
    const { feed, opened } = await setup(41);
    expect(opened).toEqual([41]);
    expect(feed.lastSeq).toBe(41);
    expect(feed.currentEpoch).toBe("e1");
  });

  it("passes records through in order and drops repeats after a source recovery", async () => {
    const { deliver, seen } = await setup();
    for (const seq of [3, 5, 5, 3, 8]) deliver(message(seq));
    expect(seen).toEqual([3, 5, 8]);
  });

  it("skips payloads that are not envelopes without stalling", async () => {
    const { feed, deliver, seen } = await setup();
    deliver({ ...message(2), data: Uint8Array.of(0x01, 0x02) });
    deliver(message(4));
    expect(seen).toEqual([4]);
    expect(feed.lastSeq).toBe(4);
  });

  it("makes its session logger on the first line it logs, not per feed, and every line carries the session", async () => {
    const lines: { session?: string; msg: string }[] = [];
    const log = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let children = 0;
    const child = log.child.bind(log);
    log.child = ((...args: Parameters<typeof child>) => {
      children++;
      return child(...args);
    }) as typeof log.child;
    const quiet = pino({ level: "info" });
    const quietChild = quiet.child.bind(quiet);
    let quietChildren = 0;
    quiet.child = ((...args: Parameters<typeof quietChild>) => {
      quietChildren++;
      return quietChild(...args);
    }) as typeof quiet.child;

    const { deliver } = await setup(0, undefined, undefined, log);
    expect(lines.map((l) => [l.session, l.msg])).toEqual([[SESSION, "feed started"]]);
    deliver({ ...message(2), data: Uint8Array.of(0x01) });
    deliver({ ...message(3), data: Uint8Array.of(0x02) });
    expect(lines.slice(1).map((l) => l.session)).toEqual([SESSION, SESSION]);
    expect(children).toBe(1);

    // At info level a feed that has nothing to warn about makes no child logger at all.
    await setup(0, undefined, undefined, quiet);
    expect(quietChildren).toBe(0);
  });

  it("serves recent history from a bounded ring", async () => {
    const { feed, deliver } = await setup(10, { ringMaxEvents: 3, ringMaxBytes: 1 << 20 });
    expect(feed.covers(10)).toBe(true);
    expect(feed.covers(9)).toBe(false);
    for (const seq of [11, 12, 13, 14]) deliver(message(seq));
    expect(feed.covers(11)).toBe(true);
    expect(feed.covers(10)).toBe(false);
    expect(feed.after(12).map((r) => r.seq)).toEqual([13, 14]);
    expect(feed.after(0).map((r) => r.seq)).toEqual([12, 13, 14]);
  });

  it("ends its subscribers with INSUFFICIENT_STATE when the stream was recreated", async () => {
    const { feed, errors, closed, recreateStream } = await setup();
    await feed.verifyEpoch();
    expect(errors).toEqual([]);
    recreateStream();
    await feed.verifyEpoch();
    expect(errors).toEqual(["INSUFFICIENT_STATE"]);
    expect(feed.closed).toBe(true);
    expect(closed()).toBe(1);
  });

  it("ends its subscribers as the live source says when it drops the feed: lost history or a failed dispatch, counted apart", async () => {
    const failed = await setup();
    failed.lose(new ThreadlineError(ErrorCode.UNAVAILABLE, "this gateway failed to deliver the session's event"));
    expect(failed.errors).toEqual(["UNAVAILABLE"]);
    expect(failed.feed.closed).toBe(true);
    const lost = await setup();
    lost.lose(new ThreadlineError(ErrorCode.INSUFFICIENT_STATE, "the stream lost events it had delivered"));
    expect(lost.errors).toEqual(["INSUFFICIENT_STATE"]);
    const reasons = async (m: typeof failed.metrics) =>
      (await m.feedFailures.get()).values.filter((v) => v.value > 0).map((v) => v.labels.reason);
    expect(await reasons(failed.metrics)).toEqual(["dispatch-failed"]);
    expect(await reasons(lost.metrics)).toEqual(["history-lost"]);
  });

  it("serves what its ring does not hold from the recent-events cache, by byte budget, while in the same generation", async () => {
    // The cache watched the stream from seq 0; the feed starts at 5 (events 1…5 came before anyone attached here).
    const { recent, tap, reset } = await startedCache(1 << 20, messages(1, 5));
    const { feed, deliver } = await setup(5, { ringMaxEvents: 2, ringMaxBytes: 1 << 20 }, recent);
    // The firehose hands each event to the cache, then to the feed.
    const both = (m: LiveMessage) => {
      tap(m);
      deliver(m);
    };
    for (let seq = 6; seq <= 8; seq++) both(message(seq));
    expect(feed.coverage(6)).toBe("ring");
    expect(feed.coverage(5)).toBe("cache"); // the ring (2 events: 7, 8) let 6 go
    expect(feed.coverage(0)).toBe("cache");
    expect(feed.after(0).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(feed.after(3).map((r) => r.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(feed.after(2, 1).map((r) => r.seq)).toEqual([3]);
    expect(feed.after(5, 1).map((r) => r.seq)).toEqual([6]);
    expect(feed.after(6, 1).map((r) => r.seq)).toEqual([7]);
    expect(feed.recordAt(4)?.event.id).toBe("e4");
    // Chunked reads joined are the whole range, once each.
    const chunked: number[] = [];
    for (let from = 0, chunk = feed.after(from, 200); chunk.length > 0; chunk = feed.after(from, 200)) {
      chunked.push(...chunk.map((r) => r.seq));
      from = chunk.at(-1)!.seq;
    }
    expect(chunked).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // A reset of the cache (e.g. history lost) ends its use by this feed, whatever it holds next.
    reset(8);
    tap(message(9));
    expect(feed.coverage(5)).toBeUndefined();
    expect(feed.coverage(6)).toBe("ring");
  });

  it("keeps what it read from the cache in its ring when it fits, so the next catch-up does not decode it again", async () => {
    const { recent } = await startedCache(1 << 20, messages(1, 10));
    const { feed } = await setup(10, { ringMaxEvents: 6, ringMaxBytes: 1 << 20 }, recent);
    expect(feed.coverage(2)).toBe("cache");
    // 1…10 do not fit 6 events: served, not kept.
    expect(feed.after(0).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(feed.coverage(4)).toBe("cache");
    // 5…10 fit: kept, and the same records are served again.
    const first = feed.after(4);
    expect(first.map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(feed.coverage(4)).toBe("ring");
    expect(feed.after(4)[0]).toBe(first[0]);
    expect(feed.after(0).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("lets a catch-up from the cache extend its ring past the live bounds, until the next live event trims it", async () => {
    const { recent, tap } = await startedCache(1 << 20, messages(1, 10));
    const options = { ringMaxEvents: 2, ringMaxBytes: 1 << 20, catchUpMaxEvents: 6 };
    const { feed, deliver } = await setup(10, options, recent);
    // 1…10 exceed the catch-up bound: served, not kept.
    expect(feed.after(0).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(feed.coverage(4)).toBe("cache");
    // 5…10 are 6 events: more than the ring keeps of live traffic (2), within what a catch-up may keep.
    const first = feed.after(4);
    expect(feed.coverage(4)).toBe("ring");
    expect(feed.after(4)[0]).toBe(first[0]);
    // A live event trims the ring to its own bound (10, 11); older positions come from the cache again.
    tap(message(11));
    deliver(message(11));
    expect(feed.coverage(9)).toBe("ring");
    expect(feed.coverage(8)).toBe("cache");
    expect(feed.after(4).map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10, 11]);
  });
});
