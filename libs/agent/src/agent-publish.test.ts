import { ErrorCode, encodeMsgpack, ThreadlineError } from "@threadline/protocol";
import type { StreamPublisher, SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { connectAgent, connectionOf, createAgent } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { useAgent } from "./test-support/nats-fixture.ts";

const fx = useAgent({ id: "writer" });

async function history(a: Agent, session: string): Promise<SubjectRecord[]> {
  const out: SubjectRecord[] = [];
  for await (const r of a.history(session)) out.push(r);
  return out;
}

/** Counts JetStream publishes awaiting their ack, the quantity maxInFlight bounds. */
function trackInFlight(publisher: StreamPublisher): { max: () => number } {
  const original = publisher.publish.bind(publisher);
  let current = 0;
  let max = 0;
  publisher.publish = async (...args: Parameters<StreamPublisher["publish"]>) => {
    current++;
    max = Math.max(max, current);
    try {
      return await original(...args);
    } finally {
      current--;
    }
  };
  return { max: () => max };
}

describe("agent.publish", () => {
  it("stores the envelope with from/ts stamped, on <prefix>.<session>.<lane>.<kind>.<id>", async () => {
    const before = Date.now();
    const ack = await fx.agent.publish("env", { type: "message.append", turn: "t1", ref: "m1", data: { delta: "hi" } });
    const ctl = await fx.agent.publish("env", { type: "tool.call", data: { name: "x" } }, { lane: "ctl" });
    expect(ack).toMatchObject({ duplicate: false, epoch: fx.agent.info.epoch });
    expect(ctl.seq).toBeGreaterThan(ack.seq);
    const [first, second] = await history(fx.agent, "env");
    expect(first).toMatchObject({
      session: "env",
      seq: ack.seq,
      subject: "tl.env.out.agent.writer",
      event: {
        id: ack.id,
        type: "message.append",
        from: { kind: "agent", id: "writer" },
        turn: "t1",
        ref: "m1",
        data: { delta: "hi" },
      },
    });
    expect(first?.event.ts).toBeGreaterThanOrEqual(before);
    expect(second?.subject).toBe("tl.env.ctl.agent.writer");
  });

  it("a system participant publishes under its kind", async () => {
    const system = await createAgent(fx.nc, { id: "presence", kind: "system" });
    const ack = await system.publish("sys-s", { type: "presence.join", data: { who: "u1" } }, { lane: "sys" });
    const [record] = await history(system, "sys-s");
    expect(record).toMatchObject({ seq: ack.seq, subject: "tl.sys-s.sys.system.presence" });
    expect(record?.event.from).toEqual({ kind: "system", id: "presence" });
    await system.close();
    expect(fx.nc.isClosed()).toBe(false); // createAgent does not own the connection
  });

  it("publishing the same id twice stores it once: duplicate, same seq", async () => {
    const first = await fx.agent.publish("dup", { id: "evt-dup-1", type: "note", data: { n: 1 } });
    const again = await fx.agent.publish("dup", { id: "evt-dup-1", type: "note", data: { n: 2 } });
    expect(first).toMatchObject({ id: "evt-dup-1", duplicate: false });
    expect(again).toMatchObject({ id: "evt-dup-1", duplicate: true, seq: first.seq });
    const stored = await history(fx.agent, "dup");
    expect(stored.map((r) => [r.seq, r.event.data])).toEqual([[first.seq, { n: 1 }]]);
  });

  // Regression (issue 13 §1): dedupe was stream-wide, so an id used in one session swallowed another's event.
  it("the same id in two sessions is stored in both; each ack names its own seq", async () => {
    const a = await fx.agent.publish("dup-a", { id: "evt-shared", type: "note", data: { s: "a" } });
    const b = await fx.agent.publish("dup-b", { id: "evt-shared", type: "note", data: { s: "b" } });
    expect(a.duplicate).toBe(false);
    expect(b).toMatchObject({ id: "evt-shared", duplicate: false });
    expect(b.seq).not.toBe(a.seq);
    expect((await history(fx.agent, "dup-b")).map((r) => [r.seq, r.event.data])).toEqual([[b.seq, { s: "b" }]]);
  });

  it("a duplicate ack for another author's event with the same id is EVENT_ID_CONFLICT, not a stored ack", async () => {
    const other = await createAgent(fx.nc, { id: "other-writer" });
    const first = await other.publish("dup-c", { id: "evt-taken", type: "note", data: { by: "other" } });
    const error = await fx.agent.publish("dup-c", { id: "evt-taken", type: "note" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThreadlineError);
    expect(error).toMatchObject({ code: ErrorCode.EVENT_ID_CONFLICT, retryable: false, session: "dup-c" });
    // The same author publishing the same id with another type is not a retry either.
    await expect(other.publish("dup-c", { id: "evt-taken", type: "note.other" })).rejects.toMatchObject({
      code: ErrorCode.EVENT_ID_CONFLICT,
    });
    expect((await history(fx.agent, "dup-c")).map((r) => r.seq)).toEqual([first.seq]);
    await other.close();
  });

  it("1000 concurrent publishes across sessions: never more than maxInFlight awaiting acks; each session stored in call order", async () => {
    const bounded = await createAgent(fx.nc, { id: "burst", maxInFlight: 8, provision: false });
    const tracker = trackInFlight(connectionOf(bounded).publisher);
    const sessions = Array.from({ length: 10 }, (_, i) => `burst-${i}`);
    const acks = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        bounded.publish(sessions[i % 10] as string, { type: "note", data: { i } }),
      ),
    );
    expect(tracker.max()).toBeLessThanOrEqual(8);
    expect(tracker.max()).toBe(8); // and the bound was actually reached: sessions ran concurrently
    expect(bounded.stats()).toEqual({ inFlight: 0, waiting: 0 });
    for (const [index, session] of sessions.entries()) {
      const stored = await history(bounded, session);
      const expected = Array.from({ length: 100 }, (_, k) => index + 10 * k);
      expect(stored.map((r) => (r.event.data as { i: number }).i)).toEqual(expected);
      expect(stored.map((r) => r.seq)).toEqual(expected.map((i) => acks[i]?.seq));
    }
    await bounded.close();
  });

  it("past maxInFlight + maxWaiting, publish rejects at once with TOO_MANY_PENDING and stores nothing for it", async () => {
    const small = await createAgent(fx.nc, { id: "small", maxInFlight: 2, maxWaiting: 3, provision: false });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => small.publish(`pending-${i % 3}`, { id: `pending-${i}`, type: "note" })),
    );
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    expect(refused).toHaveLength(5);
    for (const e of refused) expect(e).toMatchObject({ code: ErrorCode.TOO_MANY_PENDING, retryable: true });
    const stored = (await Promise.all([0, 1, 2].map((s) => history(small, `pending-${s}`)))).flat();
    expect(stored.map((r) => r.event.id).sort()).toEqual([
      "pending-0",
      "pending-1",
      "pending-2",
      "pending-3",
      "pending-4",
    ]);
    await small.close();
  });

  it("an invalid session id or event field throws a typed error without publishing", async () => {
    for (const session of ["", "a.b", "a b", "*", ">", "x".repeat(129)]) {
      const error = await fx.agent.publish(session, { type: "note" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ThreadlineError);
      expect(error).toMatchObject({ code: ErrorCode.INVALID_SESSION, retryable: false });
    }
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const invalid: [Parameters<Agent["publish"]>[1], Parameters<Agent["publish"]>[2]?][] = [
      [{ type: "Not A Type" }],
      [{ type: "" }],
      [{ type: "note", id: "has space" }],
      [{ type: "note", turn: "" }],
      [{ type: "note", ref: "x".repeat(65) }],
      [{ type: "note" }, { lane: "nope" as never }],
      [{ type: "note", data: circular }],
    ];
    for (const [event, options] of invalid) {
      await expect(fx.agent.publish("fields", event, options)).rejects.toMatchObject({
        code: ErrorCode.INVALID_FRAME,
        session: "fields",
        retryable: false,
      });
    }
    expect(await history(fx.agent, "fields")).toEqual([]);
  });

  it("an event above the stream's max_msg_size (headers included) throws EVENT_TOO_LARGE; one at the limit is stored", async () => {
    const limited = await createAgent(fx.nc, {
      id: "big",
      provision: { stream: "SMALL", prefix: "sm", livePrefix: "smlive", maxMsgSize: 4096, cursorBucket: "sm-cursors" },
    });
    // Same shape and field order as the envelope the agent builds; ts encodes to a fixed width.
    const envelopeBytes = (id: string, text: string) =>
      encodeMsgpack({ id, type: "note", from: { kind: "agent", id: "big" }, ts: Date.now(), data: { text } })
        .byteLength;
    // The dedupe key is `<session>/<id>` (PROTOCOL.md §3.3); the session here is "big".
    const headers = (id: string) => `NATS/1.0\r\nNats-Msg-Id: big/${id}\r\nNats-Expected-Stream: SMALL\r\n\r\n`.length;
    let length = 3000;
    while (envelopeBytes("at-limit", "x".repeat(length)) + headers("at-limit") < 4096) length++;
    expect(envelopeBytes("at-limit", "x".repeat(length)) + headers("at-limit")).toBe(4096);

    const stored = await limited.publish("big", { id: "at-limit", type: "note", data: { text: "x".repeat(length) } });
    expect(stored.seq).toBeGreaterThan(0);
    const error = await limited
      .publish("big", { id: "over-lim", type: "note", data: { text: "x".repeat(length + 1) } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThreadlineError);
    expect(error).toMatchObject({ code: ErrorCode.EVENT_TOO_LARGE, retryable: false, session: "big" });
    expect((await history(limited, "big")).map((r) => r.event.id)).toEqual(["at-limit"]);

    // If the agent's view of the limit is stale, the server's refusal maps to the same typed error.
    const stale = await createAgent(fx.nc, {
      id: "big",
      info: { ...limited.info, config: { ...limited.info.config, max_msg_size: -1 } },
    });
    await expect(
      stale.publish("big", { id: "srv-over", type: "note", data: { text: "x".repeat(length + 1) } }),
    ).rejects.toMatchObject({ code: ErrorCode.EVENT_TOO_LARGE, retryable: false });
    await stale.close();
    await limited.close();
  });

  it("close() lets accepted publishes finish, drains its own connection, then refuses with CLOSED", async () => {
    const own = await connectAgent({ servers: fx.nats.url, id: "closer", provision: false });
    const pending = Array.from({ length: 50 }, (_, i) => own.publish("closing", { type: "note", data: { i } }));
    const closing = own.close();
    const acks = await Promise.all(pending);
    await closing;
    expect(connectionOf(own).nc.isClosed()).toBe(true);
    expect(new Set(acks.map((a) => a.seq)).size).toBe(50);
    await expect(own.publish("closing", { type: "note" })).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect((await history(fx.agent, "closing")).map((r) => (r.event.data as { i: number }).i)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it("rejects invalid options", async () => {
    await expect(createAgent(fx.nc, { id: "bad id" })).rejects.toBeInstanceOf(TypeError);
    await expect(createAgent(fx.nc, { id: "ok", kind: "user" as never })).rejects.toBeInstanceOf(TypeError);
    await expect(createAgent(fx.nc, { id: "ok", maxInFlight: 0 })).rejects.toBeInstanceOf(RangeError);
  });
});
