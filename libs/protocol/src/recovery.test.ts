import { describe, expect, it } from "vitest";
import { ErrorCode, ThreadlineError } from "./errors.ts";
import { checkPositionEvent, checkResume, isNewSeq, mergeHistoryAndLive } from "./recovery.ts";

describe("checkPositionEvent", () => {
  const at = (id?: string) => ({ epoch: "e1", seq: 15, ...(id === undefined ? {} : { id }) });

  it("accepts the event the position names, still stored at its seq", () => {
    expect(() => checkPositionEvent(at("evt-a"), "evt-a")).not.toThrow();
  });

  it("does not check positions that name no event, or whose event expired", () => {
    expect(() => checkPositionEvent(at(), "evt-b")).not.toThrow();
    expect(() => checkPositionEvent(at(), undefined)).not.toThrow();
    expect(() => checkPositionEvent(at("evt-a"), undefined, true)).not.toThrow();
  });

  it.each([
    ["another event stored at the seq (history rewritten)", "evt-b", /holds event evt-b at seq 15, not evt-a/],
    ["no event of the session at the seq", undefined, /no longer holds event evt-a at seq 15/],
  ])("refuses %s with INSUFFICIENT_STATE", (_name, stored, message) => {
    expect(() => checkPositionEvent(at("evt-a"), stored)).toThrow(
      expect.objectContaining({
        code: ErrorCode.INSUFFICIENT_STATE,
        retryable: false,
        message: expect.stringMatching(message),
      }),
    );
  });
});

describe("checkResume", () => {
  const stream = { epoch: "e1", firstSeq: 10, lastSeq: 20 };

  it.each([
    ["the seq right before the first stored event", { epoch: "e1", seq: 9 }, stream],
    ["the first stored event", { epoch: "e1", seq: 10 }, stream],
    ["an event in the middle", { epoch: "e1", seq: 15 }, stream],
    ["the last stored event (nothing to replay)", { epoch: "e1", seq: 20 }, stream],
    ["seq 0 on a new empty stream", { epoch: "e1", seq: 0 }, { epoch: "e1", firstSeq: 0, lastSeq: 0 }],
    ["seq 0 on a stream that starts at 1", { epoch: "e1", seq: 0 }, { epoch: "e1", firstSeq: 1, lastSeq: 5 }],
    // JetStream reports first = last + 1 for a stream whose messages were all removed.
    ["the last seq of a fully purged stream", { epoch: "e1", seq: 20 }, { epoch: "e1", firstSeq: 21, lastSeq: 20 }],
  ])("allows resuming from %s", (_name, requested, state) => {
    expect(() => checkResume(requested, state)).not.toThrow();
  });

  it.each([
    ["another epoch (stream recreated)", { epoch: "e0", seq: 15 }, stream, ErrorCode.INSUFFICIENT_STATE],
    [
      "another epoch even at seq 0",
      { epoch: "e0", seq: 0 },
      { epoch: "e1", firstSeq: 0, lastSeq: 0 },
      ErrorCode.INSUFFICIENT_STATE,
    ],
    ["one event expired (seq + 1 < firstSeq)", { epoch: "e1", seq: 8 }, stream, ErrorCode.INSUFFICIENT_STATE],
    ["seq 0 after the head was removed", { epoch: "e1", seq: 0 }, stream, ErrorCode.INSUFFICIENT_STATE],
    [
      "a purged stream, from before the purge",
      { epoch: "e1", seq: 19 },
      { epoch: "e1", firstSeq: 21, lastSeq: 20 },
      ErrorCode.INSUFFICIENT_STATE,
    ],
    // The gateway handed the position out, so the stream lost what it had stored after lastSeq.
    ["one past the last seq (history lost)", { epoch: "e1", seq: 21 }, stream, ErrorCode.INSUFFICIENT_STATE],
    [
      "any seq on an empty stream",
      { epoch: "e1", seq: 1 },
      { epoch: "e1", firstSeq: 0, lastSeq: 0 },
      ErrorCode.INSUFFICIENT_STATE,
    ],
  ])("refuses %s", (_name, requested, state, code) => {
    const error = (() => {
      try {
        checkResume(requested, state);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ThreadlineError);
    expect((error as ThreadlineError).code).toBe(code);
    expect((error as ThreadlineError).retryable).toBe(false);
  });

  it("checks the epoch before anything else", () => {
    // A future seq of another epoch is an epoch problem: the client must reload, not fix its seq.
    expect(() => checkResume({ epoch: "old", seq: 999 }, stream)).toThrow(
      expect.objectContaining({ code: ErrorCode.INSUFFICIENT_STATE }),
    );
  });
});

describe("mergeHistoryAndLive", () => {
  const r = (...seqs: number[]) => seqs.map((seq) => ({ seq, tag: `e${seq}` }));

  it.each([
    ["both empty", 0, [], [], []],
    ["history only", 0, [1, 2, 3], [], [1, 2, 3]],
    ["live only", 0, [], [4, 5], [4, 5]],
    ["disjoint, live after history", 0, [1, 3], [5, 8], [1, 3, 5, 8]],
    ["overlap is deduplicated", 0, [1, 2, 3, 4], [3, 4, 5], [1, 2, 3, 4, 5]],
    ["live entirely inside history", 0, [1, 2, 3], [2, 3], [1, 2, 3]],
    ["everything at or below `after` is dropped", 3, [1, 2, 3, 4], [3, 4, 5], [4, 5]],
    ["`after` beyond everything", 10, [1, 2], [5], []],
    ["live older than history's end is dropped (history is authoritative)", 0, [1, 5], [2, 6], [1, 5, 6]],
    ["sparse seqs (other sessions interleave)", 100, [101, 140, 177], [177, 230], [101, 140, 177, 230]],
  ])("%s", (_name, after, history, live, expected) => {
    const merged = mergeHistoryAndLive(after, r(...history), r(...live));
    expect(merged.map((x) => x.seq)).toEqual(expected);
  });

  it("keeps the history record when both inputs hold a seq", () => {
    const history = [{ seq: 1, from: "history" }];
    const live = [{ seq: 1, from: "live" }];
    expect(mergeHistoryAndLive(0, history, live)).toEqual([{ seq: 1, from: "history" }]);
  });

  it.each([
    ["history descending", [3, 2], []],
    ["history with a repeated seq", [1, 1], []],
    ["live descending", [1], [5, 4]],
    ["live with a repeated seq", [], [2, 2]],
  ])("throws INTERNAL on out-of-order input: %s", (_name, history, live) => {
    expect(() => mergeHistoryAndLive(0, r(...history), r(...live))).toThrow(
      expect.objectContaining({ code: ErrorCode.INTERNAL }),
    );
  });

  it("does not modify its inputs", () => {
    const history = r(1, 2);
    const live = r(2, 3);
    mergeHistoryAndLive(0, history, live);
    expect(history.map((x) => x.seq)).toEqual([1, 2]);
    expect(live.map((x) => x.seq)).toEqual([2, 3]);
  });
});

describe("isNewSeq", () => {
  it.each([
    [0, 1, true],
    [5, 6, true],
    [5, 100, true],
    [5, 5, false],
    [5, 4, false],
  ])("last %i, incoming %i → %s", (last, seq, expected) => {
    expect(isNewSeq(last, seq)).toBe(expected);
  });
});
