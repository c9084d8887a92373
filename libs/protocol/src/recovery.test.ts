import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, ThreadlineError } from "./errors.ts";
import { checkResume, isNewSeq, LiveGapDetector, type LiveVerdict, mergeHistoryAndLive } from "./recovery.ts";

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
    ["one past the last seq (the future)", { epoch: "e1", seq: 21 }, stream, ErrorCode.INVALID_POSITION],
    [
      "any seq on an empty stream",
      { epoch: "e1", seq: 1 },
      { epoch: "e1", firstSeq: 0, lastSeq: 0 },
      ErrorCode.INVALID_POSITION,
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

describe("LiveGapDetector", () => {
  it.each<[string, [string, number, number][], LiveVerdict[]]>([
    [
      "consecutive messages on one subject",
      [
        ["a", 11, 10],
        ["a", 12, 11],
      ],
      ["ok", "ok"],
    ],
    ["a subject's first message after start, previous before start", [["a", 11, 3]], ["ok"]],
    ["a subject's first message ever (no previous: 0)", [["a", 11, 0]], ["ok"]],
    [
      "interleaved subjects",
      [
        ["a", 11, 10],
        ["b", 12, 7],
        ["a", 13, 11],
        ["b", 14, 12],
      ],
      ["ok", "ok", "ok", "ok"],
    ],
    [
      "lost message on a tracked subject",
      [
        ["a", 11, 10],
        ["a", 13, 12],
      ],
      ["ok", "gap"],
    ],
    ["untracked subject whose previous is above the start", [["b", 13, 11]], ["gap"]],
    ["untracked subject whose previous is exactly the start", [["b", 13, 10]], ["ok"]],
    [
      "redelivered message",
      [
        ["a", 11, 10],
        ["a", 11, 10],
      ],
      ["ok", "duplicate"],
    ],
    [
      "a message at or below the start",
      [
        ["a", 10, 9],
        ["a", 5, 0],
      ],
      ["duplicate", "duplicate"],
    ],
    [
      "an old message of another subject",
      [
        ["a", 12, 10],
        ["b", 11, 0],
      ],
      ["ok", "duplicate"],
    ],
  ])("%s", (_name, messages, expected) => {
    const detector = new LiveGapDetector(10);
    expect(messages.map(([subject, seq, last]) => detector.observe(subject, seq, last))).toEqual(expected);
  });

  it("does not advance on a gap, so the resync starts before the lost message", () => {
    const detector = new LiveGapDetector(10);
    expect(detector.observe("a", 11, 10)).toBe("ok");
    expect(detector.observe("a", 13, 12)).toBe("gap");
    expect(detector.position).toBe(11);
    // The resync reads 12 and 13 from the stream.
    detector.accept("a", 12);
    detector.accept("a", 13);
    expect(detector.position).toBe(13);
    expect(detector.observe("a", 14, 13)).toBe("ok");
  });

  it("accept() ignores records at or below the position", () => {
    const detector = new LiveGapDetector(10);
    detector.accept("a", 12);
    detector.accept("b", 11);
    expect(detector.position).toBe(12);
    // b's 11 was not recorded as b's latest: b's next (previous = 11) is judged against the floor 10.
    expect(detector.observe("b", 13, 11)).toBe("gap");
  });

  it("reset() forgets subjects and trusts everything up to the resync point", () => {
    const detector = new LiveGapDetector(10);
    detector.observe("a", 11, 10);
    detector.reset(20);
    expect(detector.position).toBe(20);
    expect(detector.observe("a", 20, 11)).toBe("duplicate");
    expect(detector.observe("b", 22, 19)).toBe("ok"); // previous at 19 ≤ 20: the resync had it
    expect(detector.observe("c", 24, 21)).toBe("gap"); // 21 was never seen
    detector.reset(5); // never moves backwards
    expect(detector.position).toBe(22);
  });

  it("LRU eviction raises the floor instead of inventing gaps", () => {
    const detector = new LiveGapDetector(10, 2);
    expect(detector.observe("a", 11, 0)).toBe("ok");
    expect(detector.observe("b", 12, 0)).toBe("ok");
    expect(detector.observe("c", 13, 0)).toBe("ok"); // evicts a (its last seq 11 becomes the floor)
    expect(detector.observe("a", 14, 11)).toBe("ok"); // evicted, but 11 ≤ floor: no false gap
    // b is still tracked: a lost message on b is caught.
    expect(detector.observe("b", 16, 15)).toBe("gap");
  });

  it("LRU evicts the least recently used subject and raises the floor only to its seq", () => {
    const detector = new LiveGapDetector(10, 2);
    expect(detector.observe("a", 11, 0)).toBe("ok");
    expect(detector.observe("b", 20, 0)).toBe("ok");
    expect(detector.observe("a", 30, 11)).toBe("ok"); // a is now the most recent
    expect(detector.observe("c", 40, 0)).toBe("ok"); // evicts b: floor 20 (evicting a would make it 30)
    // d@25 was lost: above the floor 20, so still caught although d was never tracked.
    expect(detector.observe("d", 45, 25)).toBe("gap");
    expect(detector.observe("a", 46, 30)).toBe("ok"); // a is still tracked at 30
  });

  // A loss is only visible when the lost message's subject publishes again.
  // By then later events of other subjects may be accepted, so the lost seq
  // can lie below `position`: a resync that reads "after position" (as the
  // gateway's SessionFeed does) cannot bring it back.
  it("a gap's lost message can lie below the position (late detection)", () => {
    const detector = new LiveGapDetector(0);
    expect(detector.observe("x", 1, 0)).toBe("ok");
    // x@2 is lost in transit.
    expect(detector.observe("y", 3, 0)).toBe("ok");
    expect(detector.observe("x", 4, 2)).toBe("gap");
    expect(detector.position).toBe(3); // > 2, the lost seq
  });

  /**
   * Simulates a republished live feed: the stream holds one message per
   * entry of `subjects` (seq = index + 1); the feed starts complete up to
   * `start`, then receives every later message in order except the dropped
   * ones, and some twice. On "gap" it resyncs like the gateway: reads the
   * stream after `position` up to the current message and accepts each.
   * Returns every violation of the detector's contract.
   */
  function simulate(input: {
    subjects: number[];
    start: number;
    drop: boolean[];
    dup: boolean[];
    maxSubjects: number;
  }) {
    const lastOnSubject = new Map<number, number>();
    const stream = input.subjects.map((subject, i) => {
      const seq = i + 1;
      const previous = lastOnSubject.get(subject) ?? 0;
      lastOnSubject.set(subject, seq);
      return { subject: `s${subject}`, seq, previous };
    });
    const start = Math.min(input.start, stream.length);
    const detector = new LiveGapDetector(start, input.maxSubjects);
    /** Seqs the feed has: everything up to start, then what it accepted. */
    const have = new Set(stream.filter((m) => m.seq <= start).map((m) => m.seq));
    const subjectsSeen = new Set<string>();
    const problems: string[] = [];
    for (const message of stream.slice(start)) {
      const index = message.seq - 1;
      if (input.drop[index % input.drop.length]) continue;
      const lostBefore = message.previous > 0 && !have.has(message.previous);
      const verdict = detector.observe(message.subject, message.seq, message.previous);
      // Completeness is promised only while no subject was evicted.
      const evicted = subjectsSeen.size > input.maxSubjects;
      if (verdict === "duplicate") problems.push(`first delivery of ${message.seq} called duplicate`);
      if (verdict === "gap" && !lostBefore) problems.push(`invented a gap at ${message.seq}`);
      if (verdict === "ok" && lostBefore && !evicted) {
        problems.push(`missed the loss of ${message.previous} at ${message.seq}`);
      }
      if (verdict === "ok") have.add(message.seq);
      if (verdict === "gap") {
        const from = detector.position;
        for (const m of stream.slice(from, message.seq)) {
          detector.accept(m.subject, m.seq);
          have.add(m.seq);
          subjectsSeen.add(m.subject);
        }
      }
      subjectsSeen.add(message.subject);
      if (input.dup[index % input.dup.length]) {
        const again = detector.observe(message.subject, message.seq, message.previous);
        if (again !== "duplicate") problems.push(`redelivery of ${message.seq} was ${again}`);
      }
      if (detector.position !== message.seq) problems.push(`position ${detector.position} after ${message.seq}`);
    }
    return problems;
  }

  const feed = (maxSubjects: fc.Arbitrary<number>) =>
    fc.record({
      subjects: fc
        .integer({ min: 1, max: 8 })
        .chain((n) => fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 120, size: "max" })),
      start: fc.nat({ max: 40 }),
      drop: fc.array(fc.boolean(), { minLength: 1, maxLength: 40, size: "max" }),
      dup: fc.array(fc.boolean(), { minLength: 1, maxLength: 40, size: "max" }),
      maxSubjects,
    });

  it("property: reports a gap exactly when the subject's previous message was lost (no eviction)", () => {
    fc.assert(
      fc.property(feed(fc.constant(64)), (input) => {
        expect(simulate(input)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it("property: with LRU eviction it may miss a loss but never invents a gap", () => {
    fc.assert(
      fc.property(feed(fc.integer({ min: 1, max: 4 })), (input) => {
        expect(simulate(input)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
