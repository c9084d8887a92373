import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { waitFor } from "@threadline/test-kit";
import { describe, expect, it } from "vitest";
import { createHistoryReader, type ReadOptions } from "./history-reader.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const nats = useProvisionedNats();

/** Every message a read yields, as `{seq, subject, bytes}`. */
async function readAll(filter: string, after: number, options?: ReadOptions) {
  const reader = createHistoryReader(jetstream(nats.nc), await jetstreamManager(nats.nc), {
    stream: nats.info.stream,
    batch: 2,
  });
  const got: { seq: number; subject: string; bytes: number }[] = [];
  for await (const batch of reader.read(filter, after, options)) {
    got.push(...batch.map((m) => ({ seq: m.seq, subject: m.subject, bytes: m.data.length })));
  }
  return got;
}

describe("createHistoryReader on nats-server", () => {
  it("headersOnly: the subjects of a session's user lanes without their payloads", async () => {
    const js = jetstream(nats.nc);
    const a = await js.publish("tl.hdr.in.user.ann", new Uint8Array(300));
    await js.publish("tl.hdr.out.agent.bot", new Uint8Array(10));
    const b = await js.publish("tl.hdr.st.user.bob", new Uint8Array(300));
    expect(await readAll("tl.hdr.*.user.*", 0, { headersOnly: true })).toEqual([
      { seq: a.seq, subject: "tl.hdr.in.user.ann", bytes: 0 },
      { seq: b.seq, subject: "tl.hdr.st.user.bob", bytes: 0 },
    ]);
    expect(await readAll("tl.hdr.*.user.*", a.seq)).toEqual([
      { seq: b.seq, subject: "tl.hdr.st.user.bob", bytes: 300 },
    ]);
  });

  it("since: starts at a store time, still skipping seqs ≤ after", async () => {
    const js = jetstream(nats.nc);
    const jsm = await jetstreamManager(nats.nc);
    const old = await js.publish("tl.since.out.agent.bot", new Uint8Array(1));
    const oldAt = (await jsm.streams.getMessage(nats.info.stream, { seq: old.seq }))!.time.getTime();
    // Store times are the server's, in ms: wait until a later one exists, then read from it.
    let recent = await js.publish("tl.since.out.agent.bot", new Uint8Array(1));
    while ((await jsm.streams.getMessage(nats.info.stream, { seq: recent.seq }))!.time.getTime() <= oldAt) {
      recent = await js.publish("tl.since.out.agent.bot", new Uint8Array(1));
    }
    const recentAt = (await jsm.streams.getMessage(nats.info.stream, { seq: recent.seq }))!.time.getTime();
    const last = await js.publish("tl.since.out.agent.bot", new Uint8Array(1));
    const fromRecent = (await readAll("tl.since.>", 0, { since: recentAt })).map((m) => m.seq);
    expect(fromRecent[0]).toBeGreaterThan(old.seq);
    expect(fromRecent).toContain(recent.seq);
    expect(fromRecent.at(-1)).toBe(last.seq);
    expect((await readAll("tl.since.>", recent.seq, { since: oldAt })).map((m) => m.seq)).toEqual([last.seq]);
  });
});

describe("createHistoryReader: pipelined pulls", () => {
  async function publishMany(session: string, count: number, bytes: number): Promise<number[]> {
    const js = jetstream(nats.nc);
    const acks = await Promise.all(
      Array.from({ length: count }, () => js.publish(`tl.${session}.out.agent.bot`, new Uint8Array(bytes))),
    );
    return acks.map((a) => a.seq).sort((a, b) => a - b);
  }

  it("yields every message once, in seq order, in batches sized by `batch` and then by `batchBytes`", async () => {
    const seqs = await publishMany("pipe", 60, 1000);
    const reader = createHistoryReader(jetstream(nats.nc), await jetstreamManager(nats.nc), {
      stream: nats.info.stream,
      batch: 8,
      batchBytes: 4096,
    });
    const sizes: number[] = [];
    const got: number[] = [];
    for await (const batch of reader.read("tl.pipe.>", seqs[4]!)) {
      sizes.push(batch.length);
      got.push(...batch.map((m) => m.seq));
    }
    expect(got).toEqual(seqs.slice(5));
    // First pull: `batch` (8 < 256); then ≈ 4096 / 1150 bytes per message → 3.
    expect(sizes[0]).toBe(8);
    expect(Math.max(...sizes.slice(1))).toBe(3);
  });

  it("a read abandoned with its next pull in flight leaves no consumer behind", async () => {
    await publishMany("pipe2", 20, 10);
    const jsm = await jetstreamManager(nats.nc);
    const reader = createHistoryReader(jetstream(nats.nc), jsm, { stream: nats.info.stream, batch: 4 });
    const consumersBefore = (await jsm.consumers.list(nats.info.stream).next()).length;
    let batches = 0;
    for await (const _ of reader.read("tl.pipe2.>", 0)) {
      if (++batches === 2) break;
    }
    expect(batches).toBe(2);
    expect((await jsm.consumers.list(nats.info.stream).next()).length).toBe(consumersBefore);
  });
});

describe("createHistoryReader: until (reads that must cover a known seq)", () => {
  /** A read whose consumer is already created when `between` stores more: what a replica lagging behind the leader shows. */
  async function readAround(filter: string, options: ReadOptions, between: () => Promise<void>) {
    const reader = createHistoryReader(jetstream(nats.nc), await jetstreamManager(nats.nc), {
      stream: nats.info.stream,
      batch: 2,
    });
    const got: { seq: number; bytes: number }[] = [];
    let first = true;
    for await (const batch of reader.read(filter, 0, options)) {
      got.push(...batch.map((m) => ({ seq: m.seq, bytes: m.data.length })));
      if (first) await between();
      first = false;
    }
    return got;
  }

  it("yields the matching messages its consumer did not see, from the stream leader", async () => {
    const js = jetstream(nats.nc);
    const ann = await js.publish("tl.until.in.user.ann", new Uint8Array(5));
    const late: number[] = [];
    const got = await readAround("tl.until.*.user.*", { until: Number.MAX_SAFE_INTEGER }, async () => {
      late.push((await js.publish("tl.until.in.user.bob", new Uint8Array(5))).seq);
      await js.publish("tl.until.out.agent.bot", new Uint8Array(5)); // not matching
      late.push((await js.publish("tl.until.st.user.cy", new Uint8Array(5))).seq);
    });
    expect(got).toEqual([ann.seq, ...late].map((seq) => ({ seq, bytes: 5 })));
  });

  it("stops at `until`, and the leader's messages are headers-only when the read is", async () => {
    const js = jetstream(nats.nc);
    const ann = await js.publish("tl.until2.in.user.ann", new Uint8Array(5));
    const late: number[] = [];
    const got = await readAround("tl.until2.*.user.*", { headersOnly: true, until: ann.seq + 2 }, async () => {
      for (const user of ["bob", "cy", "dan"])
        late.push((await js.publish(`tl.until2.in.user.${user}`, new Uint8Array(5))).seq);
    });
    expect(late).toEqual([ann.seq + 1, ann.seq + 2, ann.seq + 3]);
    expect(got).toEqual([ann.seq, ann.seq + 1, ann.seq + 2].map((seq) => ({ seq, bytes: 0 })));
  });

  it("without `until` a read ends with what its consumer saw when it was created", async () => {
    const js = jetstream(nats.nc);
    const a = await js.publish("tl.until3.in.user.ann", new Uint8Array(1));
    const got = await readAround("tl.until3.*.user.*", {}, async () => {
      await js.publish("tl.until3.in.user.bob", new Uint8Array(1));
    });
    expect(got.map((m) => m.seq)).toEqual([a.seq]);
  });
});

describe("createHistoryReader: the end of a read does not depend on the consumer's num_pending", () => {
  // nats-server 2.9's num_pending of a wildcard-filtered consumer starting mid-session, where the session's
  // subjects interleave, is wrong in both directions (here ~15 % of the starts): a read trusting it waited
  // for messages that do not exist (then failed) or ended before the last one.
  it("every read from every position of interleaved sessions yields exactly the stored messages", async () => {
    const js = jetstream(nats.nc);
    const writers = [
      "user.bob",
      "agent.bot",
      "agent.bot",
      "user.ann",
      "agent.bot",
      "agent.bot",
      "user.ann",
      "user.bob",
    ];
    const sessions = new Map<string, number[]>();
    for (let i = 0; i < 15; i++) {
      const session = `npc${i}`;
      const seqs: number[] = [];
      for (let j = 0; j < writers.length; j++) {
        const writer = writers[(i + j) % writers.length]!;
        seqs.push((await js.publish(`tl.${session}.st.${writer}`, Uint8Array.of(j))).seq);
      }
      sessions.set(session, seqs);
    }
    const reader = createHistoryReader(js, await jetstreamManager(nats.nc), { stream: nats.info.stream });
    const wrong: string[] = [];
    for (const [session, seqs] of sessions) {
      for (let after = seqs[0]! - 1; after <= seqs.at(-1)!; after++) {
        const got: number[] = [];
        for await (const batch of reader.read(`tl.${session}.>`, after)) got.push(...batch.map((m) => m.seq));
        const expected = seqs.filter((seq) => seq > after);
        if (got.join() !== expected.join()) wrong.push(`${session} after ${after}: ${got} ≠ ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 30_000);
});

describe("createHistoryReader: reads that find less than the leader said", () => {
  it("a since-read with nothing in its window ends without pulling", async () => {
    const js = jetstream(nats.nc);
    await js.publish("tl.window.out.agent.bot", Uint8Array.of(1));
    // A pull that found nothing would wait its 5 s expiry: past this test's timeout.
    expect(await readAll("tl.window.>", 0, { since: Date.now() + 60_000 })).toEqual([]);
  }, 3_000);

  it("messages removed while the read runs end it at what is left", async () => {
    const js = jetstream(nats.nc);
    const jsm = await jetstreamManager(nats.nc);
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await js.publish("tl.removed.out.agent.bot", Uint8Array.of(i))).seq);
    const reader = createHistoryReader(js, jsm, { stream: nats.info.stream, batch: 1 });
    const got: number[] = [];
    for await (const batch of reader.read("tl.removed.>", 0)) {
      // After the first message (the second one's pull may already be answered): remove the rest.
      if (got.length === 0) for (const seq of seqs.slice(2)) await jsm.streams.deleteMessage(nats.info.stream, seq);
      got.push(...batch.map((m) => m.seq));
    }
    expect(got).toEqual(seqs.slice(0, 2));
  }, 15_000);
});

describe("createHistoryReader: a consumer create that is not answered", () => {
  it("is hedged after CREATE_HEDGE_MS: the read completes with a second create, the late first one is deleted", async () => {
    const js = jetstream(nats.nc);
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await js.publish("tl.hedge1.out.agent.bot", new Uint8Array(10))).seq);
    const jsm = await jetstreamManager(nats.nc);
    const consumersBefore = (await jsm.consumers.list(nats.info.stream).next()).length;
    // The first create is held back (as one placed on a dead node would never be answered), the next go through.
    let adds = 0;
    let releaseFirst!: () => void;
    const held = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const consumers = new Proxy(jsm.consumers, {
      get(target, key) {
        if (key === "add") {
          return async (...args: Parameters<typeof jsm.consumers.add>) => {
            if (adds++ === 0) await held;
            return target.add(...args);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const reader = createHistoryReader(js, { ...jsm, streams: jsm.streams, consumers } as typeof jsm, {
      stream: nats.info.stream,
    });
    const got: number[] = [];
    for await (const batch of reader.read("tl.hedge1.>", 0)) got.push(...batch.map((m) => m.seq));
    expect(got).toEqual(seqs);
    expect(adds).toBe(2);
    // The held create reaches the server late: the consumer it makes is deleted as soon as it answers.
    releaseFirst();
    await waitFor(async () => (await jsm.consumers.list(nats.info.stream).next()).length === consumersBefore, {
      timeoutMs: 5_000,
      message: "the late consumer was not deleted",
    });
  });
});
