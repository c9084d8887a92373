import { applyMessageEvent, emptyMessageState, encodeMsgpack, type SessionEvent, Subjects } from "@threadline/protocol";
import { MemoryStream } from "@threadline/store";
import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, test } from "vitest";
import type { AttachmentSink } from "./attachment.ts";
import type { FeedRecord } from "./feed-record.ts";
import type { LiveMessage, LiveSource } from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import { SessionFeed } from "./session-feed.ts";
import { sessionHistory } from "./session-history.ts";
import { attachForTest } from "./test-support/attach.ts";

// A compact attachment end to end inside the gateway (the store's in-memory stream, a fake socket): history read in
// batches, the ring, live records, and a socket that refuses frames (the slow-socket path: the
// attachment falls behind and catches up again through a new compactor pass). Whatever the refusals,
// the frames it queued fold into the same messages as the stream.

const subjects = new Subjects();
const SESSION = "s1";
const SUBJECT = subjects.event(SESSION, "out", "agent", "a");
const agent = { kind: "agent" as const, id: "a" };

function events(script: { m: number; k: "start" | "append" | "end" | "note"; text: string }[]): SessionEvent[] {
  const out: SessionEvent[] = [];
  const gen = [0, 0];
  const started = [false, false];
  script.forEach((s, i) => {
    const id = `m${s.m}-${gen[s.m]}`;
    const base = { id: `e${i}`, from: agent, ts: 0 };
    if (s.k === "note") out.push({ ...base, type: "progress", data: { step: "x" } });
    else if (s.k === "start" || !started[s.m]) {
      gen[s.m]!++;
      started[s.m] = true;
      const fresh = `m${s.m}-${gen[s.m]}`;
      out.push({ ...base, type: "message.start", ref: fresh, data: { id: fresh, role: "assistant" } });
    } else if (s.k === "append")
      out.push({ ...base, type: "message.append", ref: id, data: { part: 0, delta: s.text } });
    else {
      started[s.m] = false;
      out.push({ ...base, type: "message.end", ref: id, data: { status: "complete" } });
    }
  });
  return out;
}

const scriptArb = fc.array(
  fc.record({
    m: fc.nat(1),
    k: fc.constantFrom(
      "start" as const,
      "append" as const,
      "append" as const,
      "append" as const,
      "end" as const,
      "note" as const,
    ),
    text: fc.string({ minLength: 1, maxLength: 5 }),
  }),
  { minLength: 1, maxLength: 80 },
);

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !until(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(until()).toBe(true);
}

describe("compact attachment", () => {
  test("property: refused frames (single or batched), ring/history/live mixes → the queued frames fold into the stream's messages", async () => {
    await fc.assert(
      fc.asyncProperty(
        scriptArb,
        fc.nat(100),
        fc.uniqueArray(fc.nat(60), { maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        async (script, split, refuseAt, ring, batched) => {
          const all = events(script);
          const storedCount = Math.min(all.length, split);
          // What the stream holds: the stored prefix, then every record the live source delivered.
          const stream = new MemoryStream({ epoch: "e1", batch: 7 });
          let stored = 0;
          while (stored < storedCount) stream.append(SUBJECT, encodeMsgpack(all[stored++]));
          let deliverLive: (m: LiveMessage) => void = () => {};
          const live: LiveSource = {
            async open(_session, onMessage) {
              deliverLive = onMessage;
              // With `ring`, the feed starts at 0 and holds everything in memory.
              return { after: ring ? 0 : storedCount, close: () => {} };
            },
            async recover() {},
            close() {},
          };
          const history = sessionHistory(stream, subjects);
          const metrics = createMetrics();
          const feed = new SessionFeed(
            SESSION,
            live,
            history,
            { ringMaxEvents: 1000, ringMaxBytes: 1 << 20 },
            metrics,
            pino({ level: "silent" }),
          );
          await feed.ready;
          const send = (seq: number) => {
            while (stored < seq) stream.append(SUBJECT, encodeMsgpack(all[stored++]));
            deliverLive({ seq, subject: SUBJECT, data: encodeMsgpack(all[seq - 1]) });
          };
          if (ring) for (let seq = 1; seq <= storedCount; seq++) send(seq);

          const queued: FeedRecord[] = [];
          let calls = 0;
          let backedUp = false;
          // A socket that refuses whole frames; with `batched`, a catch-up frame carries up to 3 records
          // (an `events` frame) and a refused one queues none of them.
          const sendFrames = (records: readonly FeedRecord[], perFrame: number): number => {
            let n = 0;
            while (n < records.length) {
              if (refuseAt.includes(calls++)) {
                backedUp = true;
                return n;
              }
              const frame = records.slice(n, n + perFrame);
              queued.push(...frame);
              n += frame.length;
            }
            return n;
          };
          const sink: AttachmentSink = {
            sendEvent: (record) => (sendFrames([record], 1) === 1 ? "sent" : "dropped"),
            sendEvents: (records) => sendFrames(records, batched ? 3 : 1),
            sendFrame() {},
            get backedUp() {
              return backedUp;
            },
            cork: (fn) => fn(),
            async waitDrain() {
              await new Promise((resolve) => setImmediate(resolve));
              backedUp = false;
              return true;
            },
            closed: false,
          };
          const { attachment, ended } = attachForTest(feed, sink, history, { history: "compact", metrics });
          const catchingUp = attachment.catchUp();
          // Live records arrive while (and after) the attachment catches up, each in its own macrotask
          // like NATS deliveries.
          for (let seq = storedCount + 1; seq <= all.length; seq++) {
            await new Promise((resolve) => setImmediate(resolve));
            send(seq);
          }
          await catchingUp;
          await settle(() => attachment.lastSent === all.length);
          expect(ended).toEqual([]);

          const seqs = queued.map((r) => r.seq);
          expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
          let expected = emptyMessageState();
          all.forEach((event, i) => {
            expected = applyMessageEvent(expected, { seq: i + 1, event });
          });
          let got = emptyMessageState();
          for (const r of queued) got = applyMessageEvent(got, r);
          expect(got.messages).toEqual(expected.messages);
          feed.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
