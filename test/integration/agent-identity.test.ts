import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createGateway, type Gateway } from "@threadline/gateway";
import { type AttachedFrame, dedupeKey, encodeMsgpack } from "@threadline/protocol";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentPasswordVariable, renderAccounts } from "../../deploy/nats/permissions.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { testGatewayConfig } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

// Regression (issue 13 §4): an agent publishing on its own subject with `from: {kind: "operator", id: "olga"}`
// reached clients with that forged `from`. Runs the shipped permission model, so the agent really is pinned
// to its own subjects and the gateway is what keeps its claimed identity from reaching clients.

const PASSWORDS: Record<string, string> = {
  TL_NATS_GATEWAY_PASS: "gateway-test-pass",
  TL_NATS_PRESENCE_PASS: "presence-test-pass",
  TL_NATS_NOTIFIER_PASS: "notifier-test-pass",
  TL_NATS_SYS_PASS: "sys-test-pass",
  [agentPasswordVariable("agent-a")]: "agent-a-test-pass",
};

let nats: NatsServer;
let gatewayNc: NatsConnection;
let gateway: Gateway;
/** A raw connection authenticated as agent-a: it may publish only on `tl.*.{out,ctl,in,st}.agent.agent-a`. */
let rawA: NatsConnection;
let counter = 0;

beforeAll(async () => {
  Object.assign(process.env, PASSWORDS);
  nats = await startNatsServer({ config: renderAccounts({ agents: ["agent-a"] }) });
  gatewayNc = await connect({ servers: nats.url, user: "gateway", pass: PASSWORDS.TL_NATS_GATEWAY_PASS });
  gateway = await createGateway(testGatewayConfig(nats.url), {
    nc: gatewayNc,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  rawA = await connect({ servers: nats.url, user: "agent-a", pass: PASSWORDS[agentPasswordVariable("agent-a")]! });
});
afterAll(async () => {
  await rawA?.close();
  await gateway?.close();
  await gatewayNc?.close();
  await nats?.stop();
});

/** agent-a stores, on one of its own lanes, an envelope that claims to come from operator olga. */
async function forge(session: string, lane: "out" | "ctl", event: Record<string, unknown>): Promise<number> {
  const id = `forged-${++counter}`;
  const envelope = { id, from: { kind: "operator", id: "olga", device: "desk" }, ts: Date.now(), ...event };
  const ack = await jetstream(rawA).publish(`tl.${session}.${lane}.agent.agent-a`, encodeMsgpack(envelope), {
    msgID: dedupeKey(session, id),
  });
  return ack.seq;
}

async function socket(encoding: "msgpack" | "json" = "msgpack"): Promise<RawSocket> {
  return RawSocket.connect(gateway.url, await mintToken({ sub: "alice" }), { encoding });
}

const forgedCount = async (path: string) =>
  (await gateway.metrics.forgedAuthors.get()).values.find((v) => v.labels.path === path)?.value ?? 0;

const AGENT_A = { kind: "agent", id: "agent-a" };

describe("an agent's claimed identity never reaches a client", () => {
  it("live: every socket (msgpack and JSON) gets the subject's author, and it is counted", async () => {
    const session = `ident-live-${process.pid}`;
    const [bin, text] = [await socket("msgpack"), await socket("json")];
    for (const s of [bin, text]) {
      await s.request({ op: "attach", session, from: "start" });
      await s.next((f) => f.op === "synced" && f.session === session);
    }
    const before = await forgedCount("live");
    const seq = await forge(session, "out", { type: "note", data: { text: "please paste your password" } });
    for (const s of [bin, text]) {
      const frame = await s.next((f) => f.op === "event" && f.seq === seq);
      expect(frame).toMatchObject({ event: { from: AGENT_A, data: { text: "please paste your password" } } });
      expect(JSON.stringify(frame)).not.toContain("olga");
    }
    expect(await forgedCount("live")).toBe(before + 1);
    await Promise.all([bin.close(), text.close()]);
  });

  it("history, compact history and resume from a position: the subject's author", async () => {
    const session = `ident-history-${process.pid}`;
    const start = await forge(session, "ctl", { type: "handoff", data: { action: "take" } });
    const msg = "m1";
    await forge(session, "out", { type: "message.start", ref: msg, data: { role: "assistant" } });
    await forge(session, "out", { type: "message.append", ref: msg, data: { part: 0, delta: "hello" } });
    const last = await forge(session, "out", { type: "message.end", ref: msg, data: { status: "complete" } });
    // A catch-up reads the stream or, for recent events, the gateway's recent-events cache: both count.
    const readCount = async () => (await forgedCount("history")) + (await forgedCount("cache"));
    const before = await readCount();

    for (const history of ["full", "compact"] as const) {
      const s = await socket();
      await s.request({ op: "attach", session, from: "start", history });
      await s.next((f) => f.op === "synced" && f.session === session);
      const events = s.events(session);
      expect(events.at(-1)?.seq).toBe(last);
      expect(events.length).toBe(history === "full" ? 4 : 2); // compact folds the message into one snapshot
      for (const e of events) expect(e.event.from).toEqual(AGENT_A);
      await s.close();
    }
    // A client resuming after the first event (a reconnect) catches up from storage: same author.
    const resumed = await socket();
    await resumed.request({ op: "attach", session, from: { epoch: await epoch(session), seq: start } });
    await resumed.next((f) => f.op === "synced" && f.session === session);
    expect(resumed.events(session).map((e) => e.event.from)).toEqual([AGENT_A, AGENT_A, AGENT_A]);
    expect(resumed.frames.some((f) => JSON.stringify(f).includes("olga"))).toBe(false);
    await resumed.close();
    expect(await readCount()).toBeGreaterThan(before);
  });
});

async function epoch(session: string): Promise<string> {
  const s = await socket();
  const attached = await s.request<AttachedFrame>({ op: "attach", session, from: "now" });
  await s.close();
  return attached.epoch;
}
