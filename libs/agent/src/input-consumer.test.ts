import { jetstream } from "@nats-io/jetstream";
import { ErrorCode, encodeMsgpack } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { startNatsServer as startTestNats, type NatsServer as TestNats, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectAgent, connectionOf } from "./agent.ts";
import type { Agent } from "./agent-api.ts";

let nats: TestNats;
let agent: Agent;
beforeAll(async () => {
  nats = await startTestNats();
  agent = await connectAgent({ servers: nats.url, id: "worker", nats: { reconnectTimeWait: 50 } });
});
afterAll(async () => {
  await agent?.close();
  await nats?.stop();
});

/** Records handled input; `done` resolves once `count` distinct ids (or all of the given ids) were seen. */
function collector(count: number | string[]) {
  const records: SubjectRecord[] = [];
  const ids = new Set<string>();
  const waiters: { ready: () => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.ready()) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const until = (ready: () => boolean) =>
    new Promise<void>((resolve) => {
      waiters.push({ ready, resolve });
      check();
    });
  return {
    records,
    ids,
    done: until(() => (typeof count === "number" ? ids.size >= count : count.every((id) => ids.has(id)))),
    /** Resolves once all `wanted` ids were seen. */
    until: (...wanted: string[]) => until(() => wanted.every((id) => ids.has(id))),
    add(record: SubjectRecord) {
      records.push(record);
      ids.add(record.event.id);
      check();
    },
  };
}

const input = (session: string, text: string, id?: string) =>
  agent.publish(session, { type: "input", data: { text }, ...(id ? { id } : {}) }, { lane: "in" });

async function consumerState(durable: string) {
  const ci = await connectionOf(agent).jsm.consumers.info(agent.info.stream, durable);
  return { ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered, pending: ci.num_pending };
}

describe("agent.consumeInput", () => {
  it("receives the input of every session (and nothing else), acknowledges it: not redelivered", async () => {
    const seen = collector(9);
    const consumer = await agent.consumeInput(async (r) => seen.add(r), { durable: "all-sessions", ackWaitMs: 1000 });
    const expected: string[] = [];
    for (const session of ["in-a", "in-b", "in-c"]) {
      for (let i = 0; i < 3; i++) {
        expected.push((await input(session, `${session}-${i}`)).id);
        await agent.publish(session, { type: "message.append", data: { delta: "not input" } }); // out lane
      }
    }
    await seen.done;
    await consumer.stop(); // waits for the acks to be confirmed
    expect([...seen.ids].sort()).toEqual(expected.sort());
    expect(seen.records).toHaveLength(9); // once each
    expect(new Set(seen.records.map((r) => r.session))).toEqual(new Set(["in-a", "in-b", "in-c"]));
    expect(seen.records.every((r) => r.subject === `tl.${r.session}.in.agent.worker` && r.event.type === "input")).toBe(
      true,
    );
    expect(await consumerState("all-sessions")).toEqual({ ackPending: 0, redelivered: 0, pending: 0 });
  });

  it("a handler that throws gets the event again after the nak delay; the error is reported", async () => {
    const calls = new Map<string, number>();
    const errors: unknown[] = [];
    const seen = collector(1);
    const consumer = await agent.consumeInput(
      async (r) => {
        const n = (calls.get(r.event.id) ?? 0) + 1;
        calls.set(r.event.id, n);
        if (n === 1) throw new Error("model overloaded");
        seen.add(r);
      },
      { durable: "flaky", nakDelayMs: 50, onError: (e) => errors.push(e) },
    );
    const { id } = await input("in-flaky", "please");
    await seen.done;
    await consumer.stop();
    expect(calls.get(id)).toBe(2);
    expect(errors).toEqual([new Error("model overloaded")]);
    expect((await consumerState("flaky")).ackPending).toBe(0);
  });

  it("a handler running longer than ackWait is kept alive with working(): delivered once", async () => {
    let calls = 0;
    const seen = collector(1);
    const consumer = await agent.consumeInput(
      async (r) => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 1500)); // the work itself: 3 × ackWait
        seen.add(r);
      },
      { durable: "slow", ackWaitMs: 500 },
    );
    await input("in-slow", "think hard");
    await seen.done;
    await consumer.stop();
    expect(calls).toBe(1);
    expect(await consumerState("slow")).toEqual({ ackPending: 0, redelivered: 0, pending: 0 });
  });

  // Regression: term("reason") is ignored by nats-server 2.9, so malformed input stayed pending forever.
  it("malformed input is terminated and reported, never handed to the handler", async () => {
    const errors: unknown[] = [];
    const seen = collector(1);
    const consumer = await agent.consumeInput(async (r) => seen.add(r), {
      durable: "strict",
      onError: (e) => errors.push(e),
    });
    await jetstream(connectionOf(agent).nc).publish("tl.in-bad.in.user.u", encodeMsgpack({ not: "an envelope" }));
    const good = await input("in-bad", "fine");
    await seen.done;
    await consumer.stop();
    expect(seen.records.map((r) => r.event.id)).toEqual([good.id]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ErrorCode.INVALID_FRAME });
    expect(await consumerState("strict")).toEqual({ ackPending: 0, redelivered: 0, pending: 0 });
  });

  it("a new durable starts at new input by default; startAt 'all' replays stored input", async () => {
    const old = await input("in-start", "before the agents started", "start-old");
    const fresh = collector(["start-new"]);
    const replay = collector(["start-old", "start-new"]);
    const a = await agent.consumeInput(async (r) => fresh.add(r), { durable: "starts-new" });
    const replayErrors: unknown[] = [];
    const b = await agent.consumeInput(async (r) => replay.add(r), {
      durable: "starts-all",
      startAt: "all",
      onError: (e) => replayErrors.push(e),
    });
    const now = await input("in-start", "after", "start-new");
    await Promise.all([fresh.done, replay.done]);
    await Promise.all([a.stop(), b.stop()]);
    // delivery is in stream order, so `old` would have arrived before `now`
    expect(fresh.records.map((r) => r.event.id)).toEqual([now.id]);
    // "all" also replays the earlier tests' input, in stream order, before these two
    const replayed = replay.records.map((r) => r.event.id);
    expect(replayed.indexOf(old.id)).toBeLessThan(replayed.indexOf(now.id));
    expect(replayed.length).toBeGreaterThan(2);
    expect(replayErrors).toEqual([expect.objectContaining({ code: ErrorCode.INVALID_FRAME })]); // the malformed one
  });

  it("workers sharing a durable split the input: each event handled once", async () => {
    const seen = collector(30);
    const counts = [0, 0];
    const workers = await Promise.all(
      [0, 1].map((w) =>
        agent.consumeInput(
          async (r) => {
            counts[w] = (counts[w] ?? 0) + 1;
            seen.add(r);
          },
          { durable: "pool", concurrency: 2 },
        ),
      ),
    );
    for (let i = 0; i < 30; i++) await input(`in-pool-${i % 4}`, `job ${i}`);
    await seen.done;
    await Promise.all(workers.map((w) => w.stop()));
    expect(seen.records).toHaveLength(30);
    expect((counts[0] ?? 0) + (counts[1] ?? 0)).toBe(30);
  });

  it("rejects invalid options", async () => {
    await expect(agent.consumeInput(async () => {}, { durable: "has.dot" })).rejects.toBeInstanceOf(TypeError);
    await expect(agent.consumeInput(async () => {}, { durable: "x", concurrency: 0 })).rejects.toBeInstanceOf(
      RangeError,
    );
  });

  it("recreates a deleted durable at once, from the oldest unacknowledged input: nothing skipped", async () => {
    const seen = collector(["gone-1", "gone-2", "gone-3"]);
    const errors: unknown[] = [];
    const consumer = await agent.consumeInput(async (r) => seen.add(r), {
      durable: "deleted",
      onError: (e) => errors.push(e),
    });
    const first = await input("in-deleted", "first", "gone-1");
    await seen.until("gone-1");
    // The handler has run; delete only once its ack is confirmed, else gone-1 is rightly delivered again.
    await waitFor(
      async () =>
        (await connectionOf(agent).jsm.consumers.info(agent.info.stream, "deleted")).ack_floor.stream_seq >= first.seq,
    );
    await connectionOf(agent).jsm.consumers.delete(agent.info.stream, "deleted");
    // Published while the durable is gone (usually before it is recreated): a fresh "new" durable would skip it.
    await input("in-deleted", "second", "gone-2");
    await input("in-deleted", "third", "gone-3");
    await seen.done;
    await consumer.stop();
    expect(seen.records.map((r) => r.event.id)).toEqual(["gone-1", "gone-2", "gone-3"]);
    expect(errors).toEqual([]);
    // recreated by the worker, starting right after the last acknowledged input
    const ci = await connectionOf(agent).jsm.consumers.info(agent.info.stream, "deleted");
    expect(ci.config).toMatchObject({ deliver_policy: "by_start_sequence", opt_start_seq: first.seq + 1 });
  }, 20_000);

  // Last: restarts the server under everything above.
  it("survives a nats-server restart: input published after it is still delivered", async () => {
    const seen = collector(10);
    const errors: unknown[] = [];
    const consumer = await agent.consumeInput(async (r) => seen.add(r), {
      durable: "restart",
      ackWaitMs: 2000,
      onError: (e) => errors.push(e), // an ack in flight during the restart may fail: the event comes again
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await input("in-restart", `before ${i}`)).id);
    const reconnected = (async () => {
      for await (const s of connectionOf(agent).nc.status()) if (s.type === "reconnect") return;
    })();
    await nats.restart();
    await reconnected;
    for (let i = 0; i < 5; i++) ids.push((await input("in-restart", `after ${i}`)).id);
    await seen.done;
    await consumer.stop();
    expect([...seen.ids].sort()).toEqual([...ids].sort());
    for (const e of errors) expect(e).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true });
  }, 60_000);
});
