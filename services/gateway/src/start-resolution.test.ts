import { ErrorCode, type Position, type StreamState } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { resolveStartStep, type StartFacts, type StartStep } from "./start-resolution.ts";

// The gateway's start resolution as a table: what is known → the next step.
// The feed's ring holds seqs 11..20 of epoch "e1" (base 10: it covers every seq ≥ 10).
const feed: StartFacts["feed"] = {
  lastSeq: 20,
  epoch: "e1",
  covers: (seq) => seq >= 10,
  idAt: (seq) => (seq > 10 && seq <= 20 ? `ev${seq}` : undefined),
};
const state: StreamState = { epoch: "e1", firstSeq: 5, lastSeq: 20 };
const pos = (seq: number, id?: string, epoch = "e1"): Position => (id ? { epoch, seq, id } : { epoch, seq });
const start = (after: number, source: string): StartStep => ({ type: "start", after, source }) as StartStep;
const read = (fact: string, delayMs?: number): StartStep =>
  (delayMs === undefined ? { type: "read", fact } : { type: "read", fact, delayMs }) as StartStep;
const refused = { type: "refuse", error: expect.objectContaining({ code: ErrorCode.INSUFFICIENT_STATE }) };

describe("resolveStartStep", () => {
  it.each<[string, Omit<StartFacts, "feed">, StartStep | typeof refused]>([
    ["now: the feed's last seq", { from: "now" }, start(20, "now")],
    ["start: everything", { from: "start" }, start(0, "start")],
    ["cursor, not read yet", { from: "cursor" }, read("cursor")],
    ["cursor, none stored: everything", { from: "cursor", cursor: null }, start(0, "cursor-fallback")],
    ["position in the ring, no id", { from: pos(15) }, start(15, "ring")],
    ["position in the ring, its event there", { from: pos(15, "ev15") }, start(15, "ring")],
    ["position in the ring, another event there", { from: pos(15, "other") }, refused],
    ["position at the ring's base with an id: ask the stream", { from: pos(10, "ev10") }, read("state")],
    [
      "position at the ring's base, stream read: ask for the stored event",
      { from: pos(10, "ev10"), state },
      read("stored"),
    ],
    [
      "position at the ring's base, event still stored",
      { from: pos(10, "ev10"), state, stored: "ev10" },
      start(10, "ring"),
    ],
    ["position at the ring's base, event gone", { from: pos(10, "ev10"), state, stored: null }, refused],
    ["position before the ring: read the stream", { from: pos(7) }, read("state")],
    ["position before the ring, stream read", { from: pos(7), state }, start(7, "stream")],
    ["position of another epoch", { from: pos(7, undefined, "e0"), state }, refused],
    ["position of another epoch, even inside the ring's seqs", { from: pos(15, undefined, "e0"), state }, refused],
    ["position before retention", { from: pos(2), state }, refused],
    [
      "position whose event expired by retention (seq < firstSeq, next one kept)",
      { from: pos(4, "ev4"), state },
      start(4, "stream"),
    ],
    ["position beyond the stream: re-read within the grace", { from: pos(25), state }, read("state", 250)],
    ["position beyond the stream after the grace", { from: pos(25), state, graceOver: true }, refused],
    ["stream position with an id, not yet checked", { from: pos(7, "ev7"), state }, read("stored")],
    ["stream position with its event", { from: pos(7, "ev7"), state, stored: "ev7" }, start(7, "stream")],
    ["stream position, another session's event there", { from: pos(7, "ev7"), state, stored: null }, refused],
    ["position 0 naming an event", { from: pos(0, "ev0"), state }, refused],
    [
      "a cursor that no longer fits falls back to everything",
      { from: "cursor", cursor: pos(2), state },
      start(0, "cursor-fallback"),
    ],
    ["a cursor in the ring", { from: "cursor", cursor: pos(12) }, start(12, "ring")],
    [
      "a cursor whose event is gone falls back",
      { from: "cursor", cursor: pos(7, "ev7"), state, stored: null },
      start(0, "cursor-fallback"),
    ],
  ])("%s", (_name, facts, expected) => {
    expect(resolveStartStep({ feed, ...facts })).toEqual(expected);
  });
});
