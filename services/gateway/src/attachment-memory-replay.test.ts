import { encodeMsgpack, type StreamState, Subjects } from "@threadline/protocol";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import type { AttachmentSink } from "./attachment.ts";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import type { RecentEvents } from "./recent-events.ts";
import { SessionFeed } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";
import { attachForTest } from "./test-support/attach.ts";
import { startedCache } from "./test-support/recent-cache.ts";

// A catch-up served from memory (the recent-events cache below a small ring)
// into a socket that backs up: it goes out in chunks (one `sendEvents` each,
// as one batch frame or several), starts no chunk while the socket is backed
// up, waits for the drain, and ends with every event once, in order. The
// stream is never read (its reader throws).

const subjects = new Subjects();
const SESSION = "s1";

function message(seq: number): LiveMessage {
  return {
    seq,
    subject: subjects.event(SESSION, "out", "agent", "a"),
    data: encodeMsgpack({
      id: `e${seq}`,
      type: "note",
      from: { kind: "agent", id: "a" },
      ts: 0,
      data: { pad: "x".repeat(500) },
    }),
  };
}

/**
 * The session's feed over `live` and the recent-events cache `recent` (ring: 100 events), with a stream
 * history that ends at `lastSeq` and must not be read: these catch-ups are served from memory only.
 */
async function memoryFeed(live: LiveSource, recent: RecentEvents, lastSeq: number) {
  const history: SessionHistory = {
    async streamState(): Promise<StreamState> {
      return { epoch: "e1", firstSeq: 1, lastSeq };
    },
    async messageAt() {
      return undefined;
    },
    // biome-ignore lint/correctness/useYield: a history that must not be read
    async *read() {
      throw new Error("the catch-up read the stream");
    },
  };
  const metrics = createMetrics();
  const feed = new SessionFeed(
    SESSION,
    live,
    history,
    { ringMaxEvents: 100, ringMaxBytes: 1 << 20 },
    metrics,
    pino({ level: "silent" }),
    recent,
  );
  await feed.ready;
  return { feed, history, metrics };
}

describe("catch-up from memory", () => {
  it("sends in chunks, none while the socket is backed up, every event once", async () => {
    const COUNT = 3000; // ≈ 1.6 MB: several chunks
    const { recent } = await startedCache(
      64 << 20,
      Array.from({ length: COUNT }, (_, i) => message(i + 1)),
    );
    const live: LiveSource = {
      async open() {
        return { after: COUNT, close: () => {} };
      },
      async recover() {},
      close() {},
    };
    const { feed, history, metrics } = await memoryFeed(live, recent, COUNT);

    const sent: number[] = [];
    let backedUp = false;
    let chunksWhileBackedUp = 0;
    let chunks = 0;
    let backups = 0;
    let drains = 0;
    let corks = 0;
    const sink: AttachmentSink = {
      sendEvent(record) {
        sent.push(record.seq);
        return "sent";
      },
      sendEvents(records) {
        if (backedUp) chunksWhileBackedUp++;
        chunks++;
        const before = sent.length;
        for (const record of records) sent.push(record.seq);
        // The socket's buffer passes its soft limit every 200 events (like uWS, it still takes the frame).
        if (Math.floor(sent.length / 200) > Math.floor(before / 200)) {
          backedUp = true;
          backups++;
        }
        return records.length;
      },
      sendFrame() {},
      get backedUp() {
        return backedUp;
      },
      cork: (fn) => {
        corks++;
        return fn();
      },
      async waitDrain() {
        drains++;
        await new Promise((resolve) => setImmediate(resolve));
        backedUp = false;
        return true;
      },
      closed: false,
    };
    const { attachment, ended } = attachForTest(feed, sink, history, { metrics });
    await attachment.catchUp();

    expect(ended).toEqual([]);
    expect(sent).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    expect(chunksWhileBackedUp).toBe(0);
    expect(chunks).toBeGreaterThan(1);
    // A chunk (~470 of these events) always passes a multiple of 200: each backs the socket up and is
    // followed by a drain before the next one.
    expect(backups).toBe(chunks);
    expect(drains).toBe(backups);
    expect(corks).toBeGreaterThanOrEqual(chunks);
    const catchUps = await metrics.catchUps.get();
    expect(catchUps.values.map((v) => [v.labels.source, v.value])).toEqual([["cache", 1]]);
    feed.close();
  });

  it("ends with synced only after the events the live source has not delivered yet (it lags the stream)", async () => {
    const { recent } = await startedCache(
      64 << 20,
      Array.from({ length: 100 }, (_, i) => message(i + 1)),
    );
    let deliver: ((m: LiveMessage) => void) | undefined;
    let backlog: number | undefined = 103; // 101–103 are stored; the live source has delivered up to 100
    const waits: number[] = [];
    let arrived: (() => void) | undefined;
    const live: LiveSource = {
      async open(_session, onMessage) {
        deliver = onMessage;
        return { after: 100, close: () => {} };
      },
      async recover() {},
      close() {},
      backlog: () => backlog,
      reached(seq) {
        waits.push(seq);
        return new Promise((resolve) => {
          arrived = () => resolve(true);
        });
      },
    };
    const { feed, history, metrics } = await memoryFeed(live, recent, 103);
    const out: string[] = [];
    const sink: AttachmentSink = {
      sendEvent(record) {
        out.push(`event ${record.seq}`);
        return "sent";
      },
      sendEvents(records) {
        for (const record of records) out.push(`event ${record.seq}`);
        return records.length;
      },
      sendFrame(frame) {
        const { op, seq } = frame as { op: string; seq?: number };
        out.push(`${op} ${seq}`);
      },
      backedUp: false,
      cork: (fn) => fn(),
      waitDrain: async () => true,
      closed: false,
    };
    const { attachment, ended } = attachForTest(feed, sink, history, { metrics, lastSent: 90 });
    const catchingUp = attachment.catchUp();
    await vi.waitFor(() => expect(waits).toEqual([103]));
    expect(out.at(-1)).toBe("event 100"); // memory replayed, no synced yet
    for (const seq of [101, 102, 103]) deliver!(message(seq));
    backlog = undefined;
    arrived!();
    await catchingUp;
    expect(ended).toEqual([]);
    expect(out).toEqual([...Array.from({ length: 13 }, (_, i) => `event ${i + 91}`), "synced 103"]);
    const waited = await metrics.catchUpBacklogWaits.get();
    expect(waited.values.map((v) => [v.labels.outcome, v.value])).toEqual([["reached", 1]]);
    // Live from here.
    deliver!(message(104));
    expect(out.at(-1)).toBe("event 104");
    feed.close();
  });
});
