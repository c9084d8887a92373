import { encodeMsgpack, type SessionState, Subjects } from "@threadline/protocol";
import { foldStoredState, MemoryStream } from "@threadline/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import { SessionFeed } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";
import { SessionStateCache, type StateSource } from "./state-cache.ts";

// Unit test of the cache's bookkeeping over an in-memory stream and a feed whose live source the
// test drives; the NATS path is covered by test/integration/gateway-state.test.ts.

const subjects = new Subjects();
const S = "s1";

function setup() {
  const stream = new MemoryStream();
  let folds = 0;
  let duringFold: (() => void) | undefined;
  const source: StateSource = {
    streamState: () => stream.streamState(),
    async fold(session, start, upToSeq, onRecord) {
      folds++;
      const hook = duringFold;
      duringFold = undefined;
      hook?.();
      return foldStoredState(stream, subjects, session, {
        start,
        ...(upToSeq === undefined ? {} : { upToSeq }),
        ...(onRecord === undefined ? {} : { onRecord }),
      });
    },
  };
  let feed: SessionFeed | undefined;
  let deliver: (m: LiveMessage) => void = () => {};
  const cache = new SessionStateCache(source, { maxSessions: 2, feedOf: () => feed, feedWaitMs: 50 });
  /** Stores a state op (and an input when `type` says so) and returns its live message. */
  const store = (data: object, type = "state", id = `e${Math.random().toString(36).slice(2)}`): LiveMessage => {
    const subject = subjects.event(S, type === "state" ? "st" : "in", "user", "u1");
    const payload = encodeMsgpack({
      id,
      type,
      from: { kind: "user", id: "u1" },
      ts: 0,
      data,
    });
    const m = stream.append(subject, payload);
    return { seq: m.seq, subject, data: payload };
  };
  const openFeed = async () => {
    const last = (await stream.streamState()).lastSeq;
    const live: LiveSource = {
      async open(_s, onMessage) {
        deliver = onMessage;
        return { after: last, close() {} };
      },
      async recover() {},
      close() {},
    };
    const history: SessionHistory = {
      streamState: () => stream.streamState(),
      messageAt: async () => undefined,
      async *read() {},
    };
    feed = new SessionFeed(
      S,
      live,
      history,
      { ringMaxEvents: 100, ringMaxBytes: 1 << 20 },
      createMetrics(),
      pino({ level: "silent" }),
    );
    await feed.ready;
    return feed;
  };
  return {
    stream,
    cache,
    store,
    openFeed,
    deliver: (m: LiveMessage) => deliver(m),
    folds: () => folds,
    onNextFold: (f: () => void) => {
      duringFold = f;
    },
  };
}

const set = (object: string, value: unknown, extra: object = {}) => ({ object, op: "set", path: [], value, ...extra });
const objectValue = (state: SessionState, name: string) => state.objects[name]?.value;

describe("SessionStateCache", () => {
  it("without a feed, folds the stored st lane and includes its own previous write in the next check", async () => {
    const t = setup();
    t.store(set("cart", 1));
    t.store({ text: "hi" }, "input");
    const seen: unknown[] = [];
    const r = await t.cache.write(
      S,
      "id",
      (state) => seen.push(objectValue(state, "cart")),
      async () => ({ seq: t.store(set("cart", 2)).seq }),
    );
    expect(r.seq).toBe(3);
    await t.cache.write(
      S,
      "id",
      (state) => seen.push(objectValue(state, "cart")),
      async () => ({ seq: 3 }),
    );
    expect(seen).toEqual([1, 2]);
  });

  it("a refused check stores nothing and does not block the next write", async () => {
    const t = setup();
    let stored = 0;
    const failing = t.cache.write(
      S,
      "id",
      () => {
        throw new Error("no");
      },
      async () => ({ seq: ++stored }),
    );
    await expect(failing).rejects.toThrow("no");
    await t.cache.write(
      S,
      "id",
      () => {},
      async () => ({ seq: ++stored }),
    );
    expect(stored).toBe(1);
  });

  it("follows the session's feed: records during the history read are applied after it, later ones as they come", async () => {
    const t = setup();
    t.store(set("cart", 1));
    await t.openFeed();
    // Stored and delivered while the cache reads the history: must not be lost nor applied twice.
    let delivered!: () => void;
    const deliveredLate = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    t.onNextFold(() => {
      const m = t.store(set("cart", 2));
      setTimeout(() => {
        t.deliver(m);
        delivered();
      }, 0);
    });
    expect(await t.cache.snapshot(S, 1)).toMatchObject({ cart: { value: 1, version: 1 } });
    await deliveredLate;
    const m3 = t.store({ object: "cart", op: "increment", path: [] });
    t.deliver(m3);
    const folds = t.folds();
    expect(await t.cache.snapshot(S, 3)).toMatchObject({ cart: { value: 3, version: 3 } });
    expect(t.folds()).toBe(folds); // served from the live view
    // A position before the last change: folded from the history up to it.
    expect(await t.cache.snapshot(S, 2)).toMatchObject({ cart: { value: 2, version: 2 } });
  });

  it("a live view is complete up to the feed's last seq, including a skipped payload that is no event", async () => {
    const t = setup();
    t.store(set("cart", 1));
    await t.openFeed();
    await t.cache.snapshot(S, 1);
    const junk = t.stream.append(subjects.event(S, "out", "agent", "a"), new Uint8Array([0xc1]));
    t.deliver({ seq: junk.seq, subject: junk.subject, data: junk.data });
    const folds = t.folds();
    expect(await t.cache.snapshot(S, junk.seq)).toMatchObject({ cart: { value: 1 } });
    expect(t.folds()).toBe(folds);
  });

  it("waits for the feed to deliver its own write, and reads the history when the feed is behind", async () => {
    const t = setup();
    await t.openFeed();
    await t.cache.write(
      S,
      "id",
      () => {},
      async () => ({ seq: t.store(set("a", 1)).seq }),
    ); // never delivered
    const seen: unknown[] = [];
    await t.cache.write(
      S,
      "id",
      (state) => seen.push(objectValue(state, "a")),
      async () => ({ seq: 1 }),
    );
    expect(seen).toEqual([1]);
  });

  it("skips the check for a resent op it already folded (the publisher answers the duplicate)", async () => {
    const t = setup();
    t.store(set("cart", 1, { ifVersion: 0 }), "state", "op-1");
    let stored = 0;
    const refuse = () => {
      throw new Error("conflict");
    };
    await t.cache.write(S, "op-1", refuse, async () => ({ seq: ++stored }));
    await expect(t.cache.write(S, "op-2", refuse, async () => ({ seq: ++stored }))).rejects.toThrow("conflict");
    expect(stored).toBe(1);
  });

  it("starts over after a new stream epoch", async () => {
    const t = setup();
    t.store(set("old", 1));
    expect(Object.keys(await t.cache.snapshot(S, 1))).toEqual(["old"]);
    t.stream.recreate("e2");
    t.store(set("new", 1));
    expect(Object.keys(await t.cache.snapshot(S, 1))).toEqual(["new"]);
  });

  it("keeps at most maxSessions views", async () => {
    const t = setup();
    for (const s of ["a", "b", "c"]) await t.cache.snapshot(s, 0);
    expect(t.cache.size).toBe(2);
  });
});
