import { encodeMsgpack, type SessionEvent, type StreamState, Subjects } from "@threadline/protocol";
import { pino } from "pino";
import { expect, test } from "vitest";
import type { AttachmentSink } from "./attachment.ts";
import { FeedRecord } from "./feed-record.ts";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import { SessionFeed } from "./session-feed.ts";
import type { SessionHistory } from "./session-history.ts";
import { attachForTest } from "./test-support/attach.ts";

// Regression (chaos suite, whole-cluster restart: a viewer missed 2 events): the history read runs on
// an R1 consumer that the server may place on any replica of the stream. A replica still catching up
// answers without the newest events — which the live feed had already dispatched before the catch-up
// began, so they were not buffered either: the client got a gap. The attachment now checks that the
// history read reached the feed's last dispatched record and reads again otherwise.

const subjects = new Subjects();
const SESSION = "s1";
const SUBJECT = subjects.event(SESSION, "out", "agent", "a");

function event(seq: number): SessionEvent {
  return { id: `e${seq}`, type: "note", from: { kind: "agent", id: "a" }, ts: 0 };
}

test("a catch-up whose history replica lags behind the live feed reads again instead of leaving a gap", async () => {
  const stored = [1, 2, 3, 4, 5, 6].map((seq) => new FeedRecord(SESSION, seq, SUBJECT, event(seq), undefined));
  let deliverLive: (m: LiveMessage) => void = () => {};
  const live: LiveSource = {
    async open(_session, onMessage) {
      deliverLive = onMessage;
      return { after: 0, close: () => {} };
    },
    async recover() {},
    close() {},
  };
  let reads = 0;
  const history: SessionHistory = {
    async streamState(): Promise<StreamState> {
      return { epoch: "e1", firstSeq: 1, lastSeq: 6 };
    },
    async messageAt() {
      return undefined;
    },
    async *read(_session, after) {
      // The first read comes from a replica that has only applied up to seq 4.
      const upTo = reads++ === 0 ? 4 : 6;
      yield stored.filter((r) => r.seq > after && r.seq <= upTo);
    },
  };
  // A tiny ring (2 events): the feed no longer covers the attach position, so the catch-up reads history.
  const feed = new SessionFeed(
    SESSION,
    live,
    history,
    { ringMaxEvents: 2, ringMaxBytes: 1 << 20 },
    createMetrics(),
    pino({ level: "silent" }),
  );
  await feed.ready;
  for (const r of stored) deliverLive({ seq: r.seq, subject: SUBJECT, data: encodeMsgpack(r.event) });

  const sent: number[] = [];
  const sink: AttachmentSink = {
    sendEvent(record) {
      sent.push(record.seq);
      return "sent";
    },
    sendEvents(records) {
      for (const r of records) sent.push(r.seq);
      return records.length;
    },
    sendFrame() {},
    backedUp: false,
    cork: (fn) => fn(),
    waitDrain: async () => true,
    closed: false,
  };
  const { attachment, ended } = attachForTest(feed, sink, history, {
    maxBuffered: 100,
    maxCatchUpAttempts: 5,
    lastSent: 1,
  });
  await attachment.catchUp();
  deliverLive({ seq: 7, subject: SUBJECT, data: encodeMsgpack(event(7)) });
  expect(ended).toEqual([]);
  expect(sent).toEqual([2, 3, 4, 5, 6, 7]);
  expect(reads).toBeGreaterThanOrEqual(1);
});
