import { Subjects } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import type { LiveMessage } from "./live-source.ts";
import { CACHED_EVENT_OVERHEAD, epochAction, RecentEvents, type RecentEventsFeed } from "./recent-events.ts";

// Pure unit test of the cache's bookkeeping with a scripted firehose; the real
// path (gateway + nats-server) is test/integration/recent-events-cache.test.ts.

const subjects = new Subjects();
const PAYLOAD = 100;

function message(session: string, seq: number, bytes = PAYLOAD): LiveMessage {
  return { seq, subject: subjects.event(session, "out", "agent", "a"), data: new Uint8Array(bytes).fill(seq % 256) };
}

/** Bytes the cache accounts for one `message(session, …)`. */
function sizeOf(session: string, bytes = PAYLOAD): number {
  return bytes + subjects.event(session, "out", "agent", "a").length + CACHED_EVENT_OVERHEAD;
}

async function started(maxBytes: number, after = 0) {
  let listener: Parameters<RecentEventsFeed["tap"]>[0] | undefined;
  const source = { suspect: false };
  const changes: [number, number][] = [];
  const cache = new RecentEvents(maxBytes, (bytes, sessions) => changes.push([bytes, sessions]));
  await cache.start(
    {
      async tap(l) {
        listener = l;
        return { after, suspect: () => source.suspect };
      },
    },
    "e1",
  );
  return {
    cache,
    changes,
    deliver: (m: LiveMessage) => listener?.onMessage(m),
    reset: (at: number) => listener?.onReset(at),
    tapped: () => listener !== undefined,
    source,
  };
}

const seqs = (cache: RecentEvents, session: string, after = 0, upTo = Number.MAX_SAFE_INTEGER) =>
  cache.range(session, after, upTo).map((e) => e.seq);

describe("epochAction", () => {
  it.each([
    [undefined, "e1", "adopt"],
    ["e1", "e1", "keep"],
    ["e1", "e2", "reset"],
    ["e2", "e1", "reset"],
  ] as const)("cached %s, observed %s → %s", (cached, observed, action) => {
    expect(epochAction(cached, observed)).toBe(action);
  });
});

describe("RecentEvents", () => {
  it("covers every session from the seq it started watching at, sessions without events too", async () => {
    const { cache, deliver } = await started(1 << 20, 40);
    expect(cache.coveredAfter("a")).toBe(40);
    expect(cache.coveredAfter("never-written")).toBe(40);
    deliver(message("a", 41));
    deliver(message("b", 42));
    deliver(message("a", 43));
    expect(seqs(cache, "a")).toEqual([41, 43]);
    expect(seqs(cache, "a", 41)).toEqual([43]);
    expect(seqs(cache, "a", 40, 42)).toEqual([41]);
    expect(seqs(cache, "b")).toEqual([42]);
    expect(cache.coveredAfter("a")).toBe(40);
  });

  it("drops repeats (a recovering source may deliver an event again)", async () => {
    const { cache, deliver } = await started(1 << 20);
    for (const seq of [1, 2, 2, 1, 3]) deliver(message("a", seq));
    expect(seqs(cache, "a")).toEqual([1, 2, 3]);
  });

  it("keeps a private copy of the delivered bytes", async () => {
    const { cache, deliver } = await started(1 << 20);
    const m = message("a", 1);
    deliver(m);
    m.data.fill(0xff);
    expect(cache.range("a", 0, 10)[0]!.data[0]).toBe(1);
  });

  it("covers nothing while off (0 bytes) and never taps the source", async () => {
    const { cache, deliver, tapped } = await started(0);
    expect(tapped()).toBe(false);
    deliver(message("a", 1));
    expect(cache.coveredAfter("a")).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it("evicts the stream's oldest events first at the global bound and moves every session's floor past them", async () => {
    const one = sizeOf("a");
    // Room for 5 events in all; the per-session share (1/4 of it) would bind first, so give each session one event.
    const { cache, deliver, changes } = await started(one * 5);
    const sessions = ["a", "b", "c", "d", "e", "f", "g"];
    for (const [i, s] of sessions.entries()) deliver(message(s, i + 1));
    expect(cache.bytes).toBeLessThanOrEqual(one * 5);
    expect(cache.sessionCount).toBe(5);
    // a (1) and b (2) went: every session is covered only after 2, a and b hold nothing.
    expect(cache.coveredAfter("a")).toBe(2);
    expect(cache.coveredAfter("c")).toBe(2);
    expect(seqs(cache, "a")).toEqual([]);
    expect(seqs(cache, "c")).toEqual([3]);
    expect(changes.at(-1)).toEqual([cache.bytes, 5]);
  });

  it("is a window over the whole stream: a busy session pushes the others' oldest events out", async () => {
    const one = sizeOf("hot");
    const { cache, deliver } = await started(one * 8);
    deliver(message("quiet", 1));
    for (let seq = 2; seq <= 10; seq++) deliver(message("hot", seq));
    expect(seqs(cache, "hot")).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seqs(cache, "quiet")).toEqual([]);
    expect(cache.coveredAfter("quiet")).toBe(2);
    expect(cache.coveredAfter("hot")).toBe(2);
    expect(cache.sessionCount).toBe(1);
  });

  it("keeps every event after its floor byte for byte while its store wraps around many times", async () => {
    const maxBytes = 20_000;
    const { cache, deliver } = await started(maxBytes);
    const sent = new Map<number, { session: string; bytes: number }>();
    let x = 7;
    const next = () => {
      x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
      return x;
    };
    for (let seq = 1; seq <= 3000; seq++) {
      const session = `s${next() % 5}`;
      const bytes = next() % 900; // 0 … 899 bytes, empty payloads included
      sent.set(seq, { session, bytes });
      deliver(message(session, seq, bytes));
      expect(cache.bytes).toBeLessThanOrEqual(maxBytes);
      if (seq % 97 !== 0) continue;
      for (let s = 0; s < 5; s++) {
        const session = `s${s}`;
        const floor = cache.coveredAfter(session)!;
        const want = [...sent].filter(([q, e]) => q > floor && e.session === session).map(([q]) => q);
        const got = cache.range(session, floor, seq);
        expect(got.map((e) => e.seq)).toEqual(want);
        for (const e of got) {
          expect(e.data.byteLength).toBe(sent.get(e.seq)!.bytes);
          expect(e.data.every((b) => b === e.seq % 256)).toBe(true);
        }
      }
    }
    expect(cache.coveredAfter("s0")).toBeGreaterThan(2900);
  });

  it("does not hold an event larger than the whole cache, and covers only after it", async () => {
    const one = sizeOf("a");
    const { cache, deliver } = await started(one * 8);
    deliver(message("a", 1));
    deliver(message("a", 2));
    deliver(message("b", 3, PAYLOAD * 20));
    expect(cache.bytes).toBe(0);
    expect(cache.coveredAfter("a")).toBe(3);
    expect(cache.coveredAfter("b")).toBe(3);
    deliver(message("b", 4));
    expect(seqs(cache, "b", 3)).toEqual([4]);
  });

  it("bounds what a range returns by bytes (at least one event)", async () => {
    const { cache, deliver } = await started(1 << 20);
    for (let seq = 1; seq <= 10; seq++) deliver(message("a", seq));
    expect(cache.range("a", 0, 100, PAYLOAD * 3).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(cache.range("a", 3, 100, 1).map((e) => e.seq)).toEqual([4]);
  });

  it("a reset at the source empties it, covers from the reset seq, and starts a new generation", async () => {
    const { cache, deliver, reset } = await started(1 << 20);
    for (let seq = 1; seq <= 5; seq++) deliver(message("a", seq));
    const generation = cache.generation;
    reset(3); // history lost: the source restarts at the stream's (new) end
    expect(cache.generation).toBe(generation + 1);
    expect(cache.bytes).toBe(0);
    expect(seqs(cache, "a")).toEqual([]);
    expect(cache.coveredAfter("a")).toBe(3);
    deliver(message("a", 4)); // the stream's new event under an old seq is taken
    expect(seqs(cache, "a")).toEqual([4]);
  });

  it("another epoch empties it (the stream was recreated); the same epoch keeps it", async () => {
    const { cache, deliver } = await started(1 << 20);
    for (let seq = 1; seq <= 5; seq++) deliver(message("a", seq));
    const generation = cache.generation;
    cache.observeEpoch("e1");
    expect(cache.generation).toBe(generation);
    expect(seqs(cache, "a")).toEqual([1, 2, 3, 4, 5]);
    cache.observeEpoch("e2");
    expect(cache.epoch).toBe("e2");
    expect(cache.generation).toBe(generation + 1);
    expect(seqs(cache, "a")).toEqual([]);
    expect(cache.coveredAfter("a")).toBe(5);
  });

  it("serves nothing while the source checks whether the stream lost what it delivered", async () => {
    const { cache, deliver, source } = await started(1 << 20);
    deliver(message("a", 1));
    source.suspect = true;
    expect(cache.coveredAfter("a")).toBeUndefined();
    source.suspect = false;
    expect(cache.coveredAfter("a")).toBe(0);
  });
});
