import { encodeMsgpack, type StreamState, Subjects } from "@threadline/protocol";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Attachment, type AttachmentSink } from "./attachment.ts";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import { RecentEvents } from "./recent-events.ts";
import { SessionFeed } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";

// A catch-up served from memory (the recent-events cache below a small ring)
// into a socket that backs up: it goes out in chunks, sends nothing while the
// socket is backed up, waits for the drain, and ends with every event once, in
// order. The stream is never read (its reader throws).

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

describe("catch-up from memory", () => {
  it("sends in chunks, nothing while the socket is backed up, every event once", async () => {
    const COUNT = 3000; // ≈ 1.6 MB: several chunks
    let tap: ((m: LiveMessage) => void) | undefined;
    const recent = new RecentEvents(64 << 20);
    await recent.start(
      {
        async tap(listener) {
          tap = (m) => listener.onMessage(m);
          return { after: 0 };
        },
      },
      "e1",
    );
    for (let seq = 1; seq <= COUNT; seq++) tap!(message(seq));
    const live: LiveSource = {
      async open() {
        return { after: COUNT, close: () => {} };
      },
      async recover() {},
      close() {},
    };
    const history: SessionHistory = {
      async streamState(): Promise<StreamState> {
        return { epoch: "e1", firstSeq: 1, lastSeq: COUNT };
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

    const sent: number[] = [];
    let backedUp = false;
    let sentWhileBackedUp = 0;
    let drains = 0;
    let corks = 0;
    const sink: AttachmentSink = {
      sendEvent(record) {
        if (backedUp) sentWhileBackedUp++;
        sent.push(record.seq);
        // The socket's buffer fills every 200 frames.
        if (sent.length % 200 === 0) backedUp = true;
        return "sent";
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
    const ended: string[] = [];
    const attachment = new Attachment(
      SESSION,
      feed,
      sink,
      history,
      { maxBuffered: 1000, maxCatchUpAttempts: 3, history: "full" },
      metrics,
      (_a, error) => ended.push(error.code),
      0,
    );
    feed.add(attachment);
    await attachment.catchUp();

    expect(ended).toEqual([]);
    expect(sent).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    expect(sentWhileBackedUp).toBe(0);
    expect(drains).toBe(COUNT / 200);
    expect(corks).toBeGreaterThan(COUNT / 200);
    const catchUps = await metrics.catchUps.get();
    expect(catchUps.values.map((v) => [v.labels.source, v.value])).toEqual([["cache", 1]]);
    feed.close();
  });
});
