import { jetstream, jetstreamManager } from "@nats-io/jetstream";
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
