import { jetstream } from "@nats-io/jetstream";
import { ErrorCode, encodeMsgpack, ThreadlineError } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { connectionOf, createAgent } from "./agent.ts";
import { useAgent } from "./test-support/nats-fixture.ts";

const fx = useAgent({ id: "reader" });

async function collect(iterable: AsyncIterable<SubjectRecord>): Promise<SubjectRecord[]> {
  const out: SubjectRecord[] = [];
  for await (const r of iterable) out.push(r);
  return out;
}

describe("agent.history", () => {
  it("returns exactly the session's events, in order, interleaved with another session", async () => {
    const other = await createAgent(fx.nc, { id: "other", provision: false });
    const mine: number[] = [];
    for (let i = 0; i < 600; i++) {
      const ack = await fx.agent.publish("h-mine", { type: "note", data: { i } });
      mine.push(ack.seq);
      await other.publish("h-theirs", { type: "note", data: { i } });
      // a session whose id starts like this one must not leak in (`h-mine-2.>` vs `h-mine.>`)
      if (i % 100 === 0) await other.publish("h-mine-2", { type: "note", data: { i } });
    }
    const records = await collect(fx.agent.history("h-mine"));
    expect(records.map((r) => r.seq)).toEqual(mine);
    expect(records.map((r) => (r.event.data as { i: number }).i)).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(new Set(records.map((r) => r.session))).toEqual(new Set(["h-mine"]));
    await other.close();
  });

  it("after: only events with a greater seq; past the end or for an empty session: nothing", async () => {
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await fx.agent.publish("h-after", { type: "note", data: { i } })).seq);
    const tail = await collect(fx.agent.history("h-after", { after: seqs[2] }));
    expect(tail.map((r) => r.seq)).toEqual(seqs.slice(3));
    expect(await collect(fx.agent.history("h-after", { after: seqs[4] }))).toEqual([]);
    expect(await collect(fx.agent.history("h-never-written"))).toEqual([]);
  });

  it("skips stored messages that are not Threadline events and reports them", async () => {
    const js = jetstream(fx.nc);
    const good1 = await fx.agent.publish("h-mixed", { type: "note", data: { n: 1 } });
    const junk = await js.publish("tl.h-mixed.out.agent.rogue", new TextEncoder().encode("not msgpack {"));
    const shapeless = await js.publish("tl.h-mixed.out.agent.rogue", encodeMsgpack({ hello: "world" }));
    const badSubject = await js.publish("tl.h-mixed.weird", encodeMsgpack({ hello: "world" }));
    const good2 = await fx.agent.publish("h-mixed", { type: "note", data: { n: 2 } });
    const invalid: number[] = [];
    const records = await collect(fx.agent.history("h-mixed", { onInvalid: ({ seq }) => invalid.push(seq) }));
    expect(records.map((r) => r.seq)).toEqual([good1.seq, good2.seq]);
    expect(invalid).toEqual([junk.seq, shapeless.seq, badSubject.seq]);
  });

  it("breaking out early ends the read cleanly (consumer removed)", async () => {
    for (let i = 0; i < 20; i++) await fx.agent.publish("h-break", { type: "note", data: { i } });
    let seen = 0;
    for await (const _ of fx.agent.history("h-break")) {
      if (++seen === 3) break;
    }
    expect(seen).toBe(3);
    const consumers = [];
    for await (const c of connectionOf(fx.agent).jsm.consumers.list(fx.agent.info.stream)) consumers.push(c.name);
    expect(consumers).toEqual([]);
  });

  it("invalid session or position throws a typed error on the call", () => {
    expect(() => fx.agent.history("bad.session")).toThrow(ThreadlineError);
    expect(() => fx.agent.history("bad.session")).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SESSION }));
    expect(() => fx.agent.history("ok", { after: -1 })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_POSITION }),
    );
  });
});
