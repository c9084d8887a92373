import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { type HistoryReader, readResuming, type StoredMessage } from "./history-reader.ts";
import { MemoryStream } from "./memory-stream.ts";

/**
 * A reader whose reads fail while `failures` lasts: after yielding their first batch (progress), or
 * before yielding anything (`stuck`).
 */
function flaky(
  stream: MemoryStream,
  failures: number,
  error: ThreadlineError,
  stuck = false,
): HistoryReader & { reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    streamState: () => stream.streamState(),
    messageAt: (seq) => stream.messageAt(seq),
    async *read(filter, after) {
      reads.push(after);
      if (stuck && failures-- > 0) throw error;
      for await (const batch of stream.read(filter, after)) {
        yield batch;
        if (!stuck && failures-- > 0) throw error;
      }
    },
  };
}

async function seqs(source: AsyncIterable<StoredMessage[]>): Promise<number[]> {
  const out: number[] = [];
  for await (const batch of source) out.push(...batch.map((m) => m.seq));
  return out;
}

describe("readResuming", () => {
  const stream = new MemoryStream({ batch: 2 });
  for (let i = 0; i < 7; i++) stream.append("tl.s.out.agent.a", new Uint8Array([i]));
  const unavailable = new ThreadlineError(ErrorCode.UNAVAILABLE, "no responders");

  it("resumes after the last message yielded: nothing twice, nothing skipped", async () => {
    const reader = flaky(stream, 2, unavailable);
    expect(await seqs(readResuming(reader, "tl.s.>", 1))).toEqual([2, 3, 4, 5, 6, 7]);
    expect(reader.reads).toEqual([1, 3, 5]);
  });

  it("gives up after maxAttempts consecutive failures without progress, and at once on an error that is not retryable", async () => {
    const stuck = flaky(stream, 99, unavailable, true);
    await expect(seqs(readResuming(stuck, "tl.s.>", 0, { maxAttempts: 2 }))).rejects.toBe(unavailable);
    expect(stuck.reads).toEqual([0, 0]);
    const fatal = new ThreadlineError(ErrorCode.INTERNAL, "bad request", { retryable: false });
    const reader = flaky(stream, 1, fatal);
    await expect(seqs(readResuming(reader, "tl.s.>", 0))).rejects.toBe(fatal);
    expect(reader.reads).toEqual([0]);
  });
});
