import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { encodeMsgpack, type StreamState, Subjects } from "@threadline/protocol";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { FeedRecord } from "./feed-record.ts";
import type { HistoryReader } from "./history-reader.ts";
import { createMetrics } from "./metrics.ts";
import { SessionFeed } from "./session-feed.ts";

// Pure unit test of the feed's repair logic: the "broker" is an in-memory
// log, the live subscription a callback the test drives — so it can lose,
// duplicate and reorder live messages deterministically. The real-NATS
// behaviour is covered by the integration suite.

const subjects = new Subjects();
const SESSION = "s1";

class FakeLog {
  records: { seq: number; subject: string; data: Uint8Array }[] = [];
  private seq = 0;
  private lastBySubject = new Map<string, number>();
  append(
    session: string,
    participant: string,
  ): { seq: number; subject: string; lastSubjectSeq: number; data: Uint8Array } {
    const seq = ++this.seq;
    const subject = subjects.event(session, "out", "agent", participant);
    const data = encodeMsgpack({ id: `e${seq}`, type: "note", from: { kind: "agent", id: participant }, ts: 0 });
    const lastSubjectSeq = this.lastBySubject.get(subject) ?? 0;
    this.lastBySubject.set(subject, seq);
    this.records.push({ seq, subject, data });
    return { seq, subject, lastSubjectSeq, data };
  }
  history(): HistoryReader & { reads: number } {
    const log = this;
    return {
      reads: 0,
      async streamState(): Promise<StreamState> {
        return { epoch: "e1", firstSeq: 1, lastSeq: log.seq };
      },
      async *read(session: string, after: number) {
        this.reads++;
        const snapshot = log.records.filter((r) => r.seq > after && r.subject.startsWith(`tl.${session}.`));
        for (const r of snapshot) yield FeedRecord.decode(session, r.seq, r.subject, r.data)!;
      },
    };
  }
}

function fakeNats() {
  let callback: ((err: Error | null, msg: Msg) => void) | undefined;
  const nc = {
    subscribe: (_subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }) => {
      callback = opts.callback;
      return { unsubscribe: () => {} };
    },
    flush: async () => {},
  } as unknown as NatsConnection;
  const deliver = (m: { seq: number; subject: string; lastSubjectSeq: number; data: Uint8Array }) => {
    const headers = new Map([
      ["Nats-Sequence", String(m.seq)],
      ["Nats-Subject", m.subject],
      ["Nats-Last-Sequence", String(m.lastSubjectSeq)],
    ]);
    callback?.(null, { headers: { get: (k: string) => headers.get(k) ?? "" }, data: m.data } as unknown as Msg);
  };
  return { nc, deliver };
}

async function setup(pendingMax = 100) {
  const log = new FakeLog();
  const history = log.history();
  const { nc, deliver } = fakeNats();
  const feed = new SessionFeed(
    SESSION,
    nc,
    subjects,
    history,
    { ringMaxEvents: 1000, ringMaxBytes: 1 << 20, pendingMax },
    createMetrics(),
    pino({ level: "silent" }),
  );
  await feed.ready;
  const seen: number[] = [];
  feed.add({ onRecord: (r) => seen.push(r.seq), onFeedError: () => {} });
  const settled = async () => {
    // resync runs on promises; let them finish
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  return { log, history, feed, deliver, seen, settled };
}

describe("SessionFeed", () => {
  it("passes live messages through in order and drops duplicates", async () => {
    const { log, deliver, seen } = await setup();
    const a = log.append(SESSION, "a");
    const b = log.append(SESSION, "b");
    deliver(a);
    deliver(a);
    deliver(b);
    expect(seen).toEqual([a.seq, b.seq]);
  });

  it("detects a lost message from Nats-Last-Sequence and repairs it from the stream before going on", async () => {
    const { log, history, deliver, seen, settled } = await setup();
    const m1 = log.append(SESSION, "a");
    const lost = log.append(SESSION, "a");
    const m3 = log.append(SESSION, "a");
    deliver(m1);
    deliver(m3); // says its subject's previous event is `lost`, which never arrived
    await settled();
    expect(seen).toEqual([m1.seq, lost.seq, m3.seq]);
    expect(history.reads).toBe(1);
    const m4 = log.append(SESSION, "a");
    deliver(m4);
    expect(seen).toEqual([m1.seq, lost.seq, m3.seq, m4.seq]);
  });

  it("detects a loss on a subject it has not seen since it started", async () => {
    const { log, deliver, seen, settled } = await setup();
    const lost = log.append(SESSION, "newcomer");
    const next = log.append(SESSION, "newcomer");
    deliver(next);
    await settled();
    expect(seen).toEqual([lost.seq, next.seq]);
  });

  it("holds live messages during a resync and merges them without duplicates", async () => {
    const { log, feed, deliver, seen, settled } = await setup();
    const m1 = log.append(SESSION, "a");
    feed.resync("reconnect");
    const m2 = log.append(SESSION, "b");
    deliver(m1); // arrives during the resync: held, then dropped as already read
    deliver(m2);
    await settled();
    const m3 = log.append(SESSION, "a");
    deliver(m3);
    expect(seen).toEqual([m1.seq, m2.seq, m3.seq]);
  });

  it("drops held messages past pendingMax and reads them from the stream instead", async () => {
    const { log, feed, deliver, seen, settled } = await setup(3);
    feed.resync("reconnect");
    const burst = Array.from({ length: 10 }, (_, i) => log.append(SESSION, `p${i % 2}`));
    for (const m of burst) deliver(m);
    await settled();
    expect(seen).toEqual(burst.map((m) => m.seq));
  });

  it("serves recent history from its ring", async () => {
    const { log, feed, deliver } = await setup();
    const ms = Array.from({ length: 5 }, () => log.append(SESSION, "a"));
    for (const m of ms) deliver(m);
    expect(feed.covers(0)).toBe(true);
    expect(feed.after(ms[1]!.seq).map((r) => r.seq)).toEqual(ms.slice(2).map((m) => m.seq));
  });
});
