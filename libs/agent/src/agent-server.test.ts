import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { decodeMsgpack, dedupeKey, encodeMsgpack, newId, type SessionEvent } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import { connectAgent, connectionOf } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { type AgentServer, serveAgent } from "./agent-server.ts";
import type { ServeAgentOptions } from "./serve-options.ts";
import { useAgent } from "./test-support/nats-fixture.ts";
import type { TurnContext } from "./turn-context.ts";

const fx = useAgent({ id: "helper", ownConnection: true });

/** Stores a client-shaped event as the gateway would (lane from the type, `from` = user alice). */
async function userEvent(session: string, event: Omit<SessionEvent, "from" | "ts" | "id"> & { id?: string }) {
  const lane = event.type === "input" ? "in" : "ctl";
  const full: SessionEvent = { id: newId(), ts: Date.now(), from: { kind: "user", id: "alice" }, ...event };
  await jetstream(fx.nc).publish(`tl.${session}.${lane}.user.alice`, encodeMsgpack(full), {
    msgID: dedupeKey(session, full.id),
  });
  return full.id;
}

/** Every event of `session` as stored from now on (the stream's republish). */
function follow(session: string) {
  const events: SessionEvent[] = [];
  const sub = fx.nc.subscribe(`live.tl.${session}.>`, {
    callback: (_e, m) => {
      events.push(decodeMsgpack(m.data) as SessionEvent);
    },
  });
  onTestFinished(() => sub.unsubscribe());
  return {
    events,
    find: (type: string, turn?: string) =>
      events.find((e) => e.type === type && (turn === undefined || e.turn === turn)),
  };
}

/** A fresh session and the events stored to it from now on. */
/**
 * Resolves once `signal` is aborted, also when it already is: a cancel can land while the handler
 * awaits its first publish, and an abort listener added after that never fires.
 */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function newSession() {
  const session = `s${newId().slice(0, 8)}`;
  return { session, log: follow(session) };
}

/** `serveAgent` with the file's agent unless another is given, stopped when the test finishes. */
async function serve(options: Omit<ServeAgentOptions, "agent"> & { agent?: Agent }): Promise<AgentServer> {
  const server = await serveAgent({ agent: fx.agent, ...options });
  onTestFinished(() => server.stop());
  return server;
}

describe("serveAgent", () => {
  it("runs a turn per user input: turn.start, output, turn.end completed; the control entry ends completed", async () => {
    const { session, log } = newSession();
    const seenHistory: string[][] = [];
    const server = await serve({
      name: "echo",
      entry: true,
      presence: false,
      handler: async (ctx) => {
        seenHistory.push((await ctx.history()).map((r) => r.event.type));
        await ctx.progress("think", "running");
        await ctx.publish({ type: "note", data: { text: `echo ${ctx.text}` } });
      },
    });
    const turn = await userEvent(session, { type: "input", data: { text: "hi" } });
    await waitFor(() => log.find("turn.end", turn) !== undefined);
    const types = log.events.filter((e) => e.turn === turn).map((e) => e.type);
    expect(types).toEqual(["turn.start", "progress", "note", "turn.end"]);
    expect(log.find("note", turn)?.data).toEqual({ text: "echo hi" });
    expect(log.find("turn.start", turn)).toMatchObject({ ref: turn, data: { agent: "echo", worker: server.worker } });
    expect(log.find("turn.end", turn)?.data).toEqual({ status: "completed" });
    // ctx.history() rebuilds the context: the session so far, up to this turn's start.
    expect(seenHistory).toEqual([["input", "turn.start"]]);
    const kv = await new Kvm(fx.nc).open("threadline-control");
    expect((await kv.get(`${session}.turn.${turn}`))?.json()).toMatchObject({ status: "completed", agent: "echo" });
  });

  it("ctx.startMessage streams a message of the turn; a cancel ends it cancelled with the turn", async () => {
    const { session, log } = newSession();
    await serve({
      name: "writer-pool",
      entry: true,
      presence: false,
      handler: async (ctx) => {
        const message = ctx.startMessage({ flushMs: 0 });
        await message.append("Hello");
        if (ctx.text === "short") return message.end("complete");
        await untilAborted(ctx.signal);
        await message.closed;
      },
    });
    const short = await userEvent(session, { type: "input", data: { text: "short" } });
    await waitFor(() => log.find("turn.end", short));
    expect(log.events.filter((e) => e.turn === short).map((e) => e.type)).toEqual([
      "turn.start",
      "message.start",
      "message.append",
      "message.end",
      "turn.end",
    ]);
    expect(log.find("message.start", short)?.data).toMatchObject({ role: "assistant", author: { id: "helper" } });

    const long = await userEvent(session, { type: "input", data: { text: "long" } });
    await waitFor(() => log.find("message.append", long));
    await userEvent(session, { type: "cancel", turn: long });
    await waitFor(() => log.find("turn.end", long));
    expect(log.find("message.end", long)?.data).toEqual({ status: "cancelled" });
    expect(log.find("turn.end", long)?.data).toMatchObject({ status: "cancelled" });
  });

  it("a cancel aborts the signal; the turn ends cancelled; a throw ends failed; non-entry pools ignore input", async () => {
    const { session, log } = newSession();
    const started: TurnContext[] = [];
    await serve({
      name: "waiter",
      entry: true,
      presence: false,
      handler: async (ctx) => {
        started.push(ctx);
        if (ctx.text === "fail") throw new Error("boom");
        await untilAborted(ctx.signal);
      },
    });
    await serve({ name: "specialist", presence: false, handler: () => {} });

    const turn = await userEvent(session, { type: "input", data: { text: "wait" } });
    await waitFor(() => started.length === 1);
    await userEvent(session, { type: "cancel", turn, data: { reason: "stop" } });
    await waitFor(() => log.find("turn.end", turn) !== undefined);
    expect(started[0]?.signal.reason).toMatchObject({ code: "TURN_ENDED" });
    expect(log.find("turn.end", turn)?.data).toMatchObject({
      status: "cancelled",
      reason: expect.stringMatching(/stop/),
    });

    const failing = await userEvent(session, { type: "input", data: { text: "fail" } });
    await waitFor(() => log.find("turn.end", failing) !== undefined);
    expect(log.find("turn.end", failing)?.data).toEqual({ status: "failed", error: "boom" });
    expect(log.events.filter((e) => e.type === "turn.start").map((e) => (e.data as { agent: string }).agent)).toEqual([
      "waiter",
      "waiter",
    ]);
  });

  it("delegate: the sub-agent pool runs under its own identity; cancelling the parent cancels the sub-turn", async () => {
    const { session, log } = newSession();
    const writerAgent = await connectAgent({ servers: fx.nats.url, id: "writer-agent", provision: false });
    onTestFinished(() => writerAgent.close());
    const subSignals: AbortSignal[] = [];
    await serve({
      agent: writerAgent,
      name: "writer",
      handler: async (ctx) => {
        subSignals.push(ctx.signal);
        await ctx.publish({ type: "note", data: { text: `drafting ${ctx.text}` } });
        if (ctx.text === "short") return;
        await untilAborted(ctx.signal);
      },
    });
    const results: unknown[] = [];
    await serve({
      name: "orchestrator",
      entry: true,
      handler: async (ctx) => {
        const short = await ctx.delegate("writer", { text: "short" });
        results.push(await short.done());
        const long = await ctx.delegate("writer", { text: "long" });
        results.push(await long.done());
      },
    });

    const turn = await userEvent(session, { type: "input", data: { text: "write" } });
    await waitFor(() => subSignals.length === 2);
    const subStarts = log.events.filter((e) => e.type === "turn.start" && e.from.id === "writer-agent");
    expect(subStarts.map((e) => e.data)).toEqual([
      expect.objectContaining({ agent: "writer", parent: turn, ancestors: [turn] }),
      expect.objectContaining({ agent: "writer", parent: turn, ancestors: [turn] }),
    ]);
    expect(results).toEqual([expect.objectContaining({ status: "completed", agent: "writer", parent: turn })]);
    const request = log.events.find((e) => e.type === "turn.request");
    expect(request).toMatchObject({ from: { kind: "agent", id: "helper" }, data: { agent: "writer", parent: turn } });
    expect(request?.id).toBe(request?.turn);
    // The sub-agent's output is its own, not relayed through the orchestrator.
    expect(log.find("note", subStarts[0]?.turn)?.from).toEqual({ kind: "agent", id: "writer-agent" });

    await userEvent(session, { type: "cancel", turn });
    await waitFor(() => log.find("turn.end", turn) !== undefined && log.find("turn.end", subStarts[1]?.turn), {
      message: () =>
        `parent ended: ${log.find("turn.end", turn) !== undefined}, sub-turn aborted: ${subSignals[1]?.aborted}, ` +
        `sub-turn ended: ${log.find("turn.end", subStarts[1]?.turn) !== undefined}`,
    });
    expect(subSignals[1]?.aborted).toBe(true);
    expect(log.find("turn.end", subStarts[1]?.turn)?.data).toMatchObject({ status: "cancelled" });
    expect(log.find("turn.end", turn)?.data).toMatchObject({ status: "cancelled" });
  });

  it("requestApproval resolves with the first answer; a worker whose turn was taken over aborts and publishes nothing more", async () => {
    const { session, log } = newSession();
    const seen: { ctx: TurnContext; answer?: unknown; publishError?: unknown }[] = [];
    const server = await serve({
      name: "careful",
      entry: true,
      leaseMs: 300,
      handler: async (ctx) => {
        const entry: (typeof seen)[number] = { ctx };
        seen.push(entry);
        if (ctx.text === "deploy") {
          entry.answer = await ctx.requestApproval("deploy", { details: { env: "prod" }, approvers: ["user"] });
          return;
        }
        await untilAborted(ctx.signal);
        entry.publishError = await ctx.publish({ type: "note", data: { text: "too late" } }).catch((e) => e);
      },
    });

    const deploy = await userEvent(session, { type: "input", data: { text: "deploy" } });
    await waitFor(() => log.find("approval.request", deploy));
    const request = log.find("approval.request", deploy)!;
    expect(request.data).toMatchObject({ action: "deploy", details: { env: "prod" }, approvers: ["user"] });
    await userEvent(session, { type: "approval", ref: request.ref, data: { approved: true, reason: "ok" } });
    await waitFor(() => log.find("turn.end", deploy));
    expect(seen[0]?.answer).toMatchObject({ approved: true, reason: "ok", from: { kind: "user", id: "alice" } });
    expect(log.find("call.closed", deploy)?.data).toEqual({ call: request.ref, reason: "answered" });

    // Another worker takes the turn over (as after a stall past the lease): this one's signal fires.
    const stalled = await userEvent(session, { type: "input", data: { text: "wait" } });
    await waitFor(() => seen.length === 2);
    const kv = await new Kvm(fx.nc).open("threadline-control");
    const entry = await kv.get(`${session}.turn.${stalled}`);
    await kv.update(
      `${session}.turn.${stalled}`,
      JSON.stringify({ ...entry!.json<object>(), worker: "other" }),
      entry!.revision,
    );
    await waitFor(() => seen[1]?.publishError !== undefined);
    expect(seen[1]?.ctx.signal.reason).toMatchObject({
      code: "TURN_ENDED",
      message: expect.stringMatching(/taken over/),
    });
    expect(seen[1]?.publishError).toMatchObject({ code: "TURN_ENDED" });
    await waitFor(() => server.running === 0);
    // What is stored (the follower may lag): the worker that lost the turn published nothing after turn.start.
    const stored: string[] = [];
    for await (const r of fx.agent.history(session)) if (r.event.turn === stalled) stored.push(r.event.type);
    expect(stored).toEqual(["turn.start"]);
    expect((await kv.get(`${session}.turn.${stalled}`))?.json()).toMatchObject({ status: "running", worker: "other" });
  });

  it("a turn taken over more than maxTakeovers times is ended interrupted instead of run again", async () => {
    const { session, log } = newSession();
    // As left behind by workers that kept dying in this turn: running, 2 takeovers, an open message.
    const turn = newId();
    const kv = await new Kvm(fx.nc).open("threadline-control");
    await kv.create(
      `${session}.turn.${turn}`,
      JSON.stringify({ status: "running", agent: "fragile", worker: "ghost", attempt: 2, updatedAt: Date.now() }),
    );
    await userEvent(session, { type: "input", id: turn, data: { text: "poison" } });
    await fx.agent.publish(session, {
      type: "message.start",
      turn,
      ref: "m-ghost",
      data: { id: "m-ghost", role: "assistant" },
    });
    // A new pool reading all stored input finds it (earlier tests' turns are final: acked unrun).
    const runs: string[] = [];
    await serve({
      name: "fragile",
      entry: true,
      presence: false,
      maxTakeovers: 2,
      startAt: "all",
      handler: (ctx) => {
        runs.push(ctx.turn);
      },
    });

    await waitFor(() => log.find("turn.end", turn));
    expect(log.find("turn.end", turn)?.data).toMatchObject({
      status: "interrupted",
      reason: expect.stringMatching(/2 times/),
    });
    expect(log.find("message.end", turn)).toMatchObject({ ref: "m-ghost", data: { status: "interrupted" } });
    expect(log.find("turn.resumed", turn)).toBeUndefined();
    expect(runs).not.toContain(turn);
    expect((await kv.get(`${session}.turn.${turn}`))?.json()).toMatchObject({ status: "interrupted", attempt: 3 });
  });

  // Regression (issue 13): a worker that died between the final CAS and its turn.end left the turn running for readers.
  it("a redelivered input whose entry is final and names its turn.end stores that turn.end (same id), once", async () => {
    const { session, log } = newSession();
    const turn = newId();
    const endEvent = newId();
    const kv = await new Kvm(fx.nc).open("threadline-control");
    const end = { status: "completed" };
    await kv.create(
      `${session}.turn.${turn}`,
      JSON.stringify({ status: "completed", agent: "closer", worker: "ghost", updatedAt: Date.now(), endEvent, end }),
    );
    await userEvent(session, { type: "input", id: turn, data: { text: "done already" } });
    const runs: string[] = [];
    await serve({
      name: "closer",
      entry: true,
      presence: false,
      startAt: "all",
      handler: (ctx) => {
        runs.push(ctx.turn);
      },
    });
    await waitFor(() => log.find("turn.end", turn));
    expect(log.find("turn.end", turn)).toMatchObject({ id: endEvent, ref: turn, data: end });
    expect(runs).not.toContain(turn);
    expect(log.events.filter((e) => e.type === "turn.start" && e.turn === turn)).toEqual([]);
  });

  it("while an operator owns the session, input is marked skipped (no events); a turn already running is still taken over", async () => {
    const { session, log } = newSession();
    const kv = await new Kvm(fx.nc).open("threadline-control");
    const runs: string[] = [];
    const server = await serve({
      name: "desk",
      entry: true,
      presence: false,
      handler: (ctx) => {
        runs.push(ctx.turn);
      },
    });
    await kv.create(
      `${session}.owner`,
      JSON.stringify({ owner: { kind: "operator", id: "olga" }, by: { kind: "operator", id: "olga" }, since: 1 }),
    );
    // Started before the take, its worker died since: the next worker still finishes it.
    const running = newId();
    await kv.create(
      `${session}.turn.${running}`,
      JSON.stringify({ status: "running", agent: "desk", worker: "ghost", attempt: 0, updatedAt: Date.now() }),
    );
    // Cancelled while pending: under the operator the pool stores no closing turn.end for it either.
    const cancelled = newId();
    await kv.create(
      `${session}.turn.${cancelled}`,
      JSON.stringify({ status: "cancelled", cancelEvent: "c1", updatedAt: Date.now() }),
    );
    await userEvent(session, { type: "input", id: cancelled, data: { text: "never mind" } });
    // Stored by a writer that creates no key (not the gateway): the pool creates it, final.
    const ignored = await userEvent(session, { type: "input", data: { text: "anyone there?" } });
    await userEvent(session, { type: "input", id: running, data: { text: "long job" } });

    await waitFor(() => log.find("turn.end", running));
    expect(log.find("turn.resumed", running)?.data).toMatchObject({ previousWorker: "ghost", attempt: 1 });
    expect(log.find("turn.end", running)?.data).toEqual({ status: "completed" });
    await waitFor(async () => (await kv.get(`${session}.turn.${ignored}`))?.json() !== undefined);
    expect((await kv.get(`${session}.turn.${ignored}`))?.json()).toMatchObject({
      status: "cancelled",
      skipped: "operator",
      agent: "desk",
      worker: server.worker,
    });
    await waitFor(async () => {
      const info = await connectionOf(fx.agent).jsm.consumers.info(fx.agent.info.stream, "pool-desk");
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    expect(runs).toEqual([running]);
    expect(log.events.filter((e) => [ignored, cancelled].includes(e.turn ?? e.ref ?? ""))).toEqual([]);
    expect((await kv.get(`${session}.turn.${cancelled}`))?.json()).toEqual({
      status: "cancelled",
      cancelEvent: "c1",
      updatedAt: expect.any(Number),
    });
  });
});
