import { Subjects } from "@threadline/protocol";
import { type HistoryReader, MemoryStream } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { AudienceCache, addUserWrites, type SessionAudience, usersBefore } from "./audience.ts";

const subjects = new Subjects("tl");
const empty = (): SessionAudience => ({ readSeq: 0, users: new Map(), capped: false });

describe("audience (pure)", () => {
  it("users who wrote on in, ctl or st, each at their first write; not operators, agents or other lanes", () => {
    const audience = empty();
    addUserWrites(audience, subjects, [
      { seq: 2, subject: "tl.s1.in.user.ann" },
      { seq: 3, subject: "tl.s1.in.operator.op" },
      { seq: 4, subject: "tl.s1.out.agent.bot" },
      { seq: 5, subject: "tl.s1.st.user.bob" },
      { seq: 6, subject: "tl.s1.ctl.user.ann" },
      { seq: 7, subject: "tl.s1.out.user.eve" }, // users cannot write out: not a user write
      { seq: 8, subject: "not.a.subject" },
    ]);
    expect([...audience.users]).toEqual([
      ["ann", 2],
      ["bob", 5],
    ]);
    expect(audience.readSeq).toBe(8);
    expect(usersBefore(audience, 5)).toEqual(["ann"]);
    expect(usersBefore(audience, 6)).toEqual(["ann", "bob"]);
    expect(usersBefore(audience, 2)).toEqual([]);
  });

  it("keeps at most maxUsers users and says it capped", () => {
    const audience = empty();
    const writes = ["a", "b", "c"].map((u, i) => ({ seq: i + 1, subject: `tl.s.in.user.${u}` }));
    addUserWrites(audience, subjects, writes, 2);
    expect([...audience.users.keys()]).toEqual(["a", "b"]);
    expect(audience.capped).toBe(true);
  });
});

/** A MemoryStream that counts reads and records their options. */
function countingStream() {
  const stream = new MemoryStream();
  const reads: { filter: string; after: number; headersOnly: boolean | undefined; until: number | undefined }[] = [];
  const reader: HistoryReader = {
    streamState: () => stream.streamState(),
    messageAt: (seq) => stream.messageAt(seq),
    read(filter, after, options) {
      reads.push({ filter, after, headersOnly: options?.headersOnly, until: options?.until });
      return stream.read(filter, after, options);
    },
  };
  return { stream, reader, reads };
}

describe("AudienceCache", () => {
  const data = new Uint8Array([1]);

  // `until` = the trigger: on a replicated stream the read's replica may lag; the reader tops up from the leader.
  it("reads a session's user lanes headers-only up to the trigger, then only what came after, and not at all when it is ahead", async () => {
    const { stream, reader, reads } = countingStream();
    const cache = new AudienceCache(reader, subjects, 10);
    stream.append("tl.s1.in.user.ann", data);
    const t1 = stream.append("tl.s1.out.agent.bot", data).seq;
    expect(usersBefore(await cache.audience("s1", t1), t1)).toEqual(["ann"]);
    expect(reads).toEqual([{ filter: "tl.s1.*.user.*", after: 0, headersOnly: true, until: t1 }]);

    expect(usersBefore(await cache.audience("s1", t1), t1)).toEqual(["ann"]); // cached
    expect(reads).toHaveLength(1);

    stream.append("tl.s1.in.user.bob", data);
    const t2 = stream.append("tl.s1.out.agent.bot", data).seq;
    expect(usersBefore(await cache.audience("s1", t2), t2)).toEqual(["ann", "bob"]);
    expect(reads[1]).toEqual({ filter: "tl.s1.*.user.*", after: t1, headersOnly: true, until: t2 });
  });

  it("concurrent lookups of one session share one read", async () => {
    const { stream, reader, reads } = countingStream();
    const cache = new AudienceCache(reader, subjects, 10);
    stream.append("tl.s1.in.user.ann", data);
    const t = stream.append("tl.s1.out.agent.bot", data).seq;
    const [a, b] = await Promise.all([cache.audience("s1", t), cache.audience("s1", t)]);
    expect(usersBefore(a, t)).toEqual(["ann"]);
    expect(usersBefore(b, t)).toEqual(["ann"]);
    expect(reads).toHaveLength(1);
  });

  it("keeps at most maxSessions sessions, evicting the least recently used", async () => {
    const { stream, reader, reads } = countingStream();
    const cache = new AudienceCache(reader, subjects, 2);
    for (const s of ["a", "b", "c"]) stream.append(`tl.${s}.in.user.u`, data);
    const last = (await stream.streamState()).lastSeq;
    await cache.audience("a", last);
    await cache.audience("b", last);
    await cache.audience("a", last); // a is now the most recent
    await cache.audience("c", last); // evicts b
    expect(cache.size).toBe(2);
    const before = reads.length;
    await cache.audience("a", last);
    expect(reads).toHaveLength(before);
    await cache.audience("b", last);
    expect(reads).toHaveLength(before + 1);
  });
});
