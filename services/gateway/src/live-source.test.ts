import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import { ErrorCode, type StreamState, type ThreadlineError } from "@threadline/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  FirehoseSource,
  LIVE_CREATE_HEDGE_MS,
  LIVE_HEARTBEAT_MS,
  LIVE_REQUEST_TIMEOUT_MS,
  LIVE_SILENCE_MS,
  type LiveMessage,
} from "./live-source.ts";
import { createMetrics } from "./metrics.ts";
import type { SessionHistory } from "./session-history.ts";
import { HISTORY_LOSS_GRACE_MS } from "./start-resolution.ts";

// Unit test of the live source's liveness watchdog with a scripted
// JetStream client (fake timers): a silent consumer is replaced from the last
// delivered seq, and a replacement that fails is retried until one runs. The
// real-server path (a node dies) is test/integration/live-source-node-loss.test.ts.

interface FakeConsumer {
  startSeq: number | undefined;
  /**
   * Delivers the stream's message at `seq` (stored first if it is not yet); `pending`: the server's count
   * after it; `storedAt`: the stored timestamp the server reports with it, ms since the epoch (default: now).
   */
  deliver(seq: number, pending?: number, storedAt?: number): void;
  /** What nats.js does when it re-creates an ordered consumer: the delivery sequence starts at 1 again. */
  restartDeliveries(): void;
  closed: boolean;
}

/** The stream: what is stored at each seq (the fake consumers deliver from it). */
class FakeStream {
  readonly messages = new Map<number, { subject: string; data: Uint8Array }>();
  /** When set, stream info reports this last seq (a lagging or cut-back stream). */
  reportedLast: number | undefined;
  store(seq: number, body = `event ${seq}`, session = "s1"): void {
    this.messages.set(seq, { subject: `tl.${session}.out.agent.a${seq}`, data: new TextEncoder().encode(body) });
  }
  /** Loses everything after `seq` (a cluster back without its newest writes). */
  cutAfter(seq: number): void {
    for (const k of [...this.messages.keys()]) if (k > seq) this.messages.delete(k);
  }
  /** Loses everything after `seq`, then stores other events at seq + 1 … `through` (new writes under old seqs). */
  rewriteAfter(seq: number, through: number): void {
    this.cutAfter(seq);
    for (let s = seq + 1; s <= through; s++) this.store(s, `rewritten ${s}`);
  }
  get lastSeq(): number {
    return this.reportedLast ?? Math.max(0, ...this.messages.keys());
  }
}

/**
 * `remaining`: the next creates that fail with a timeout; `unanswered`: the next ones that never settle (a
 * create the meta leader placed on a dead node: nobody answers); `lateMs`: how long the next ones take to
 * answer (after the unanswered ones). `deleted` counts created consumers deleted.
 */
function fakeJetStream(
  failures: { remaining: number; unanswered?: number; lateMs?: number[]; deleted?: number },
  stream = new FakeStream(),
) {
  const consumers: FakeConsumer[] = [];
  const js = {
    consumers: {
      async get(_stream: string, opts: { opt_start_seq?: number }) {
        if ((failures.unanswered ?? 0) > 0) {
          failures.unanswered!--;
          await new Promise(() => {});
        }
        const late = failures.lateMs?.shift();
        if (late !== undefined) await new Promise((resolve) => setTimeout(resolve, late));
        if (failures.remaining > 0) {
          failures.remaining--;
          throw new Error("timeout");
        }
        return {
          async delete() {
            failures.deleted = (failures.deleted ?? 0) + 1;
            return true;
          },
          async consume(options: {
            callback: (m: {
              seq: number;
              subject: string;
              data: Uint8Array;
              info: { deliverySequence: number; pending: number; timestampNanos: number };
            }) => void;
          }) {
            let delivered = 0;
            const fake: FakeConsumer = {
              startSeq: opts.opt_start_seq,
              deliver: (seq, pending = 0, storedAt = Date.now()) => {
                if (!stream.messages.has(seq)) stream.store(seq);
                const m = stream.messages.get(seq)!;
                const info = { deliverySequence: ++delivered, pending, timestampNanos: storedAt * 1e6 };
                options.callback({ seq, ...m, info });
              },
              restartDeliveries: () => {
                delivered = 0;
              },
              closed: false,
            };
            consumers.push(fake);
            const messages = {
              async close() {
                fake.closed = true;
              },
              status: () => ({ async *[Symbol.asyncIterator]() {} }),
            };
            return messages as unknown as ConsumerMessages;
          },
        };
      },
    },
  };
  const history: SessionHistory = {
    async streamState(): Promise<StreamState> {
      return { epoch: "e1", firstSeq: 1, lastSeq: stream.lastSeq };
    },
    async messageAt(seq: number) {
      return stream.messages.get(seq);
    },
    async *read() {},
  };
  return { js: js as unknown as JetStreamClient, consumers, stream, history };
}

/** A source on the scripted client, open on s1, that has delivered seq 1; `received`: the seqs it dispatched. */
async function afterSeq1(failures: Parameters<typeof fakeJetStream>[0]) {
  const fake = fakeJetStream(failures);
  const logged: string[] = [];
  const log = {
    info: (_: object, message: string) => logged.push(`info ${message}`),
    error: (_: object, message: string) => logged.push(`error ${message}`),
    warn: (_: object, message: string) => logged.push(`warn ${message}`),
  };
  const source = new FirehoseSource(fake.js, "THREADLINE", "tl.>", fake.history, undefined, log);
  const received: number[] = [];
  await source.open("s1", (m) => received.push(m.seq));
  fake.consumers[0]!.deliver(1);
  return { ...fake, source, received, logged };
}

describe("FirehoseSource liveness", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps a consumer that delivers, replaces a silent one from the last delivered seq", async () => {
    const { js, consumers, history } = fakeJetStream({ remaining: 0 });
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history);
    const received: LiveMessage[] = [];
    await source.open("s1", (m) => received.push(m));
    try {
      // Busy: a message every half heartbeat for a while → no replacement.
      for (let seq = 1; seq <= 20; seq++) {
        consumers[0]!.deliver(seq);
        await vi.advanceTimersByTimeAsync(LIVE_HEARTBEAT_MS / 2);
      }
      expect(consumers).toHaveLength(1);
      // Silent (no message, no heartbeat) → replaced, starting after seq 20.
      await vi.advanceTimersByTimeAsync(LIVE_SILENCE_MS + LIVE_HEARTBEAT_MS);
      expect(consumers).toHaveLength(2);
      expect(consumers[1]!.startSeq).toBe(21);
      expect(consumers[0]!.closed).toBe(true);
      consumers[1]!.deliver(21);
      expect(received.map((m) => m.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    } finally {
      source.close();
    }
  });

  it("retries a failed recovery until a consumer runs (no further recover() call needed)", async () => {
    const failures = { remaining: 0 };
    const { js, consumers, history } = fakeJetStream(failures);
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history);
    const received: number[] = [];
    await source.open("s1", (m) => received.push(m.seq));
    try {
      consumers[0]!.deliver(1);
      // The reconnect-triggered recovery fails (e.g. the stream leader is being elected), and so do the next tries.
      failures.remaining = 3;
      await expect(source.recover()).rejects.toThrow("timeout");
      // The old consumer still delivers (it may survive the reconnect): the failed replacement is retried
      // every heartbeat anyway, not only once the consumer falls silent.
      for (let i = 1; i <= 2; i++) {
        await vi.advanceTimersByTimeAsync(LIVE_HEARTBEAT_MS);
        consumers[0]!.deliver(1 + i);
      }
      await vi.advanceTimersByTimeAsync(LIVE_HEARTBEAT_MS);
      expect(failures.remaining).toBe(0);
      expect(consumers).toHaveLength(2);
      expect(consumers[1]!.startSeq).toBe(4);
      consumers[1]!.deliver(4);
      expect(received).toEqual([1, 2, 3, 4]);
    } finally {
      source.close();
    }
  });

  it("gives up a consumer create after LIVE_REQUEST_TIMEOUT_MS and tries again (a create placed on a dead node)", async () => {
    const failures = { remaining: 0, unanswered: 0 };
    const { consumers, source, received, logged } = await afterSeq1(failures);
    try {
      failures.unanswered = 2;
      // Silent → a replacement, whose create is never answered; nor is its hedge; the next try runs.
      await vi.advanceTimersByTimeAsync(LIVE_SILENCE_MS + LIVE_HEARTBEAT_MS + LIVE_CREATE_HEDGE_MS);
      expect(failures.unanswered).toBe(0);
      expect(consumers).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(LIVE_REQUEST_TIMEOUT_MS + LIVE_HEARTBEAT_MS);
      expect(consumers).toHaveLength(2);
      expect(consumers[1]!.startSeq).toBe(2);
      consumers[1]!.deliver(2);
      expect(received).toEqual([1, 2]);
      expect(logged).toEqual(["warn live consumer not replaced yet; retrying", "info live consumer replaced"]);
    } finally {
      source.close();
    }
  });

  it("hedges a create not answered within LIVE_CREATE_HEDGE_MS: the first answer is used, a late one deleted", async () => {
    const failures = { remaining: 0, unanswered: 0, lateMs: [] as number[], deleted: 0 };
    const { consumers, source, received } = await afterSeq1(failures);
    try {
      // The replacement's create answers only after 1.5 s (below the request timeout), its hedge at once.
      failures.lateMs = [1_500, 0];
      await vi.advanceTimersByTimeAsync(LIVE_SILENCE_MS + LIVE_HEARTBEAT_MS + LIVE_CREATE_HEDGE_MS + 10);
      expect(consumers).toHaveLength(2);
      expect(consumers[1]!.startSeq).toBe(2);
      consumers[1]!.deliver(2);
      expect(received).toEqual([1, 2]);
      // The first create answers later: that consumer is deleted, never consumed.
      await vi.advanceTimersByTimeAsync(1_500);
      expect(failures.deleted).toBe(1);
      expect(consumers).toHaveLength(2);
    } finally {
      source.close();
    }
  });

  it("a first start that failed is tried again by the next open", async () => {
    // The create and its hedge are both never answered.
    const failures = { remaining: 0, unanswered: 2 };
    const { js, consumers, history } = fakeJetStream(failures);
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history);
    try {
      const first = source.open("s1", () => {});
      const outcome = expect(first).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      await vi.advanceTimersByTimeAsync(LIVE_CREATE_HEDGE_MS + LIVE_REQUEST_TIMEOUT_MS);
      await outcome;
      const received: number[] = [];
      await source.open("s1", (m) => received.push(m.seq));
      expect(consumers).toHaveLength(1);
      consumers[0]!.deliver(1);
      expect(received).toEqual([1]);
    } finally {
      source.close();
    }
  });
});

describe("FirehoseSource lost history", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function delivering(count: number) {
    const fake = fakeJetStream({ remaining: 0 });
    const source = new FirehoseSource(fake.js, "THREADLINE", "tl.>", fake.history);
    const received: number[] = [];
    const lost: ThreadlineError[] = [];
    await source.open(
      "s1",
      (m) => received.push(m.seq),
      (e) => lost.push(e),
    );
    for (let seq = 1; seq <= count; seq++) fake.consumers[0]!.deliver(seq);
    return { ...fake, source, received, lost };
  }

  it("a stream still holding the delivered tail: the recovery continues after it, nothing lost", async () => {
    const { source, consumers, lost } = await delivering(10);
    try {
      await source.recover();
      expect(lost).toEqual([]);
      expect(consumers.at(-1)!.startSeq).toBe(11);
    } finally {
      source.close();
    }
  });

  it("another event stored at the delivered seq (history rewritten): onLost at once, restart at the stream's end", async () => {
    const { source, consumers, stream, lost, received } = await delivering(10);
    try {
      stream.rewriteAfter(7, 12);
      await source.recover();
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ code: ErrorCode.INSUFFICIENT_STATE, retryable: false });
      expect(lost[0]!.message).toMatch(/another event at seq 10/);
      expect(consumers.at(-1)!.startSeq).toBe(13);
      // The registration was dropped: later events are not handed to it.
      consumers.at(-1)!.deliver(13);
      expect(received).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      // A new registration starts at the stream's end.
      const again = await source.open("s1", () => {});
      expect(again.after).toBe(13);
    } finally {
      source.close();
    }
  });

  it("a stream behind the delivered tail: waits HISTORY_LOSS_GRACE_MS, then onLost", async () => {
    const { source, consumers, stream, lost } = await delivering(10);
    try {
      stream.cutAfter(6);
      await expect(source.recover()).rejects.toThrow(/below the delivered seq 10/);
      await vi.advanceTimersByTimeAsync(HISTORY_LOSS_GRACE_MS - LIVE_HEARTBEAT_MS);
      expect(lost).toEqual([]);
      await vi.advanceTimersByTimeAsync(3 * LIVE_HEARTBEAT_MS);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.message).toMatch(/last seq is 6, it had delivered seq 10/);
      expect(consumers.at(-1)!.startSeq).toBe(7);
    } finally {
      source.close();
    }
  });

  it("a new leader briefly reporting less than it holds is not lost history", async () => {
    const { source, consumers, stream, lost } = await delivering(10);
    try {
      stream.reportedLast = 8;
      await expect(source.recover()).rejects.toThrow(/below the delivered seq 10/);
      await vi.advanceTimersByTimeAsync(LIVE_HEARTBEAT_MS);
      stream.reportedLast = undefined;
      await vi.advanceTimersByTimeAsync(LIVE_SILENCE_MS + LIVE_HEARTBEAT_MS);
      expect(lost).toEqual([]);
      expect(consumers.at(-1)!.startSeq).toBe(11);
    } finally {
      source.close();
    }
  });

  it("a consumer nats.js replaced by itself: the tail before it is checked", async () => {
    const { source, consumers, stream, lost, received } = await delivering(10);
    try {
      stream.rewriteAfter(7, 12);
      // nats.js re-created the ordered consumer after the last seq it saw (10): its delivery sequence restarts.
      consumers[0]!.restartDeliveries();
      consumers[0]!.deliver(11);
      expect(received.at(-1)).toBe(11);
      await vi.advanceTimersByTimeAsync(LIVE_HEARTBEAT_MS);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.message).toMatch(/another event at seq 10/);
      expect(consumers.at(-1)!.startSeq).toBe(13);
    } finally {
      source.close();
    }
  });
});

describe("FirehoseSource backlog", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("knows what the server stored and has not delivered yet, and when it has", async () => {
    const { js, consumers, history } = fakeJetStream({ remaining: 0 });
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history);
    await source.open("s1", () => {});
    try {
      expect(source.backlog()).toBeUndefined();
      consumers[0]!.deliver(1, 2); // two more stored after seq 1, not delivered yet
      expect(source.backlog()).toBe(3);
      const reached = source.reached(3, 1000);
      let settled: boolean | undefined;
      void reached.then((r) => {
        settled = r;
      });
      consumers[0]!.deliver(2, 1);
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toBeUndefined();
      consumers[0]!.deliver(3, 0);
      expect(await reached).toBe(true);
      expect(source.backlog()).toBeUndefined();
      expect(await source.reached(2, 1000)).toBe(true); // already delivered
      // Never delivered (e.g. deleted meanwhile): false once the wait is over.
      consumers[0]!.deliver(4, 5);
      const late = source.reached(9, 500);
      await vi.advanceTimersByTimeAsync(500);
      expect(await late).toBe(false);
      // Closing settles the waiters.
      const closing = source.reached(9, 60_000);
      source.close();
      expect(await closing).toBe(false);
    } finally {
      source.close();
    }
  });
});

describe("FirehoseSource live lag metric", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("observes each live event's time from stored to handed to the sockets, once per event", async () => {
    const metrics = createMetrics();
    const { js, consumers, history } = fakeJetStream({ remaining: 0 });
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history, metrics);
    const received: number[] = [];
    await source.open("s1", (m) => received.push(m.seq));
    try {
      consumers[0]!.deliver(1, 0, Date.now() - 40);
      consumers[0]!.deliver(2, 0, Date.now() - 3_000);
      consumers[0]!.deliver(2, 0, Date.now() - 9_000); // a repeat after a recovery: dropped, not observed
      consumers[0]!.deliver(3, 0, Date.now() + 5); // the leader's clock ahead of this host's: 0, not negative
      expect(received).toEqual([1, 2, 3]);
      const text = await metrics.registry.getSingleMetricAsString("threadline_gateway_live_lag_seconds");
      const value = (line: string) => Number(new RegExp(`^${line} (\\S+)$`, "m").exec(text)?.[1]);
      expect(value("threadline_gateway_live_lag_seconds_count")).toBe(3);
      expect(value("threadline_gateway_live_lag_seconds_sum")).toBeCloseTo(3.04, 6);
      expect(value('threadline_gateway_live_lag_seconds_bucket\\{le="0.001"\\}')).toBe(1);
      expect(value('threadline_gateway_live_lag_seconds_bucket\\{le="0.05"\\}')).toBe(2);
      expect(value('threadline_gateway_live_lag_seconds_bucket\\{le="2.5"\\}')).toBe(2);
      expect(value('threadline_gateway_live_lag_seconds_bucket\\{le="5"\\}')).toBe(3);
    } finally {
      source.close();
    }
  });
});

describe("FirehoseSource listeners that throw", () => {
  it("takes a session whose handler threw off the firehose (UNAVAILABLE to it), and keeps delivering to the others", async () => {
    const metrics = createMetrics();
    const { js, consumers, history, stream } = fakeJetStream({ remaining: 0 });
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history, metrics);
    const good: number[] = [];
    const bad: number[] = [];
    const lost: string[] = [];
    await source.open("s1", (m) => good.push(m.seq));
    await source.open(
      "s2",
      (m) => {
        bad.push(m.seq);
        if (m.seq === 2) throw new Error("a bug in the session's handling");
      },
      (error) => lost.push(error.code),
    );
    try {
      for (let seq = 1; seq <= 6; seq++) stream.store(seq, `event ${seq}`, seq % 2 === 1 ? "s1" : "s2");
      for (let seq = 1; seq <= 6; seq++) expect(() => consumers[0]!.deliver(seq)).not.toThrow();
      expect(good).toEqual([1, 3, 5]);
      expect(bad).toEqual([2]);
      expect(lost).toEqual(["UNAVAILABLE"]);
      expect(consumers).toHaveLength(1);
      const counted = (await metrics.liveDispatchErrors.get()).values.map((v) => [v.labels.listener, v.value]);
      expect(counted).toEqual([["session", 1]]);
    } finally {
      source.close();
    }
  });

  it("resets a tap that threw at that event and keeps feeding it", async () => {
    const { js, consumers, history } = fakeJetStream({ remaining: 0 });
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history);
    const seen: number[] = [];
    const resets: number[] = [];
    await source.tap({
      onMessage: (m) => {
        if (m.seq === 2) throw new Error("a bug in the cache");
        seen.push(m.seq);
      },
      onReset: (after) => resets.push(after),
    });
    try {
      for (let seq = 1; seq <= 4; seq++) consumers[0]!.deliver(seq);
      expect(seen).toEqual([1, 3, 4]);
      expect(resets).toEqual([2]);
    } finally {
      source.close();
    }
  });
});
