import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import type { StreamState } from "@threadline/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { HistoryReader } from "./history-reader.ts";
import { FirehoseSource, LIVE_HEARTBEAT_MS, LIVE_SILENCE_MS, type LiveMessage } from "./live-source.ts";

// Unit test of the live source's liveness watchdog with a scripted
// JetStream client (fake timers): a silent consumer is replaced from the last
// delivered seq, and a replacement that fails is retried until one runs. The
// real-server path (a node dies) is test/integration/live-source-node-loss.test.ts.

interface FakeConsumer {
  startSeq: number | undefined;
  deliver(seq: number): void;
  closed: boolean;
}

function fakeJetStream(failures: { remaining: number }) {
  const consumers: FakeConsumer[] = [];
  const js = {
    consumers: {
      async get(_stream: string, opts: { opt_start_seq?: number }) {
        if (failures.remaining > 0) {
          failures.remaining--;
          throw new Error("timeout");
        }
        return {
          async consume(options: { callback: (m: { seq: number; subject: string; data: Uint8Array }) => void }) {
            const fake: FakeConsumer = {
              startSeq: opts.opt_start_seq,
              deliver: (seq) => options.callback({ seq, subject: `tl.s1.out.agent.a${seq}`, data: new Uint8Array() }),
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
  return { js: js as unknown as JetStreamClient, consumers };
}

const history: HistoryReader = {
  async streamState(): Promise<StreamState> {
    return { epoch: "e1", firstSeq: 1, lastSeq: 0 };
  },
  async *read() {},
};

describe("FirehoseSource liveness", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps a consumer that delivers, replaces a silent one from the last delivered seq", async () => {
    const { js, consumers } = fakeJetStream({ remaining: 0 });
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
    const { js, consumers } = fakeJetStream(failures);
    const source = new FirehoseSource(js, "THREADLINE", "tl.>", history);
    const received: number[] = [];
    await source.open("s1", (m) => received.push(m.seq));
    try {
      consumers[0]!.deliver(1);
      // The reconnect-triggered recovery fails (e.g. the stream leader is being elected), and so do the next tries.
      failures.remaining = 3;
      await expect(source.recover()).rejects.toThrow("timeout");
      await vi.advanceTimersByTimeAsync(LIVE_SILENCE_MS + 4 * LIVE_HEARTBEAT_MS);
      expect(failures.remaining).toBe(0);
      expect(consumers).toHaveLength(2);
      expect(consumers[1]!.startSeq).toBe(2);
      consumers[1]!.deliver(2);
      expect(received).toEqual([1, 2]);
    } finally {
      source.close();
    }
  });
});
