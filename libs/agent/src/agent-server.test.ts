import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { decodeMsgpack, encodeMsgpack, newId, type SessionEvent } from "@threadline/protocol";
import { type NatsServer, startNatsServer, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type Agent, connectAgent } from "./agent.ts";
import { serveAgent } from "./agent-server.ts";
import type { TurnContext } from "./turn-context.ts";

let nats: NatsServer;
let nc: NatsConnection;
let agent: Agent;
beforeAll(async () => {
  nats = await startNatsServer();
  agent = await connectAgent({ servers: nats.url, id: "helper" });
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await agent?.close();
  await nats?.stop();
});

/** Stores a client-shaped event as the gateway would (lane from the type, `from` = user alice). */
async function userEvent(session: string, event: Omit<SessionEvent, "from" | "ts" | "id"> & { id?: string }) {
  const lane = event.type === "input" ? "in" : "ctl";
  const full: SessionEvent = { id: newId(), ts: Date.now(), from: { kind: "user", id: "alice" }, ...event };
  await jetstream(nc).publish(`tl.${session}.${lane}.user.alice`, encodeMsgpack(full), { msgID: full.id });
  return full.id;
}

/** Every event of `session` as stored from now on (the stream's republish). */
function follow(session: string) {
  const events: SessionEvent[] = [];
  const sub = nc.subscribe(`live.tl.${session}.>`, {
    callback: (_e, m) => events.push(decodeMsgpack(m.data) as SessionEvent),
  });
  onTestFinished(() => sub.unsubscribe());
  return {
    events,
    find: (type: string, turn?: string) =>
      events.find((e) => e.type === type && (turn === undefined || e.turn === turn)),
  };
}

describe("serveAgent", () => {
  it("runs a turn per user input: turn.start, output, turn.end completed; the control entry ends completed", async () => {
    const session = `s${newId().slice(0, 8)}`;
    const log = follow(session);
    const server = await serveAgent({
      agent,
      name: "echo",
      entry: true,
      presence: false,
      handler: async (ctx) => {
        await ctx.progress("think", "running");
        await ctx.publish({ type: "note", data: { text: `echo ${ctx.text}` } });
      },
    });
    onTestFinished(() => server.stop());
    const turn = await userEvent(session, { type: "input", data: { text: "hi" } });
    await waitFor(() => log.find("turn.end", turn) !== undefined);
    const types = log.events.filter((e) => e.turn === turn).map((e) => e.type);
    expect(types).toEqual(["turn.start", "progress", "note", "turn.end"]);
    expect(log.find("note", turn)?.data).toEqual({ text: "echo hi" });
    expect(log.find("turn.start", turn)).toMatchObject({ ref: turn, data: { agent: "echo", worker: server.worker } });
    expect(log.find("turn.end", turn)?.data).toEqual({ status: "completed" });
    const kv = await new Kvm(nc).open("threadline-control");
    expect((await kv.get(`${session}.turn.${turn}`))?.json()).toMatchObject({ status: "completed", agent: "echo" });
  });

  it("a cancel aborts the signal; the turn ends cancelled; a throw ends failed; non-entry pools ignore input", async () => {
    const session = `s${newId().slice(0, 8)}`;
    const log = follow(session);
    const started: TurnContext[] = [];
    const server = await serveAgent({
      agent,
      name: "waiter",
      entry: true,
      presence: false,
      handler: async (ctx) => {
        started.push(ctx);
        if (ctx.text === "fail") throw new Error("boom");
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      },
    });
    onTestFinished(() => server.stop());
    const ignoring = await serveAgent({ agent, name: "specialist", presence: false, handler: () => {} });
    onTestFinished(() => ignoring.stop());

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
});
