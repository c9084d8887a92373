import { Kvm } from "@nats-io/kv";
import {
  type ControlOwnerEntry,
  type ControlTurnEntry,
  controlOwnerKey,
  controlTurnKey,
  DEFAULT_CONTROL_BUCKET,
  dedupeKey,
  encodeMsgpack,
  type SessionEvent,
} from "@threadline/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { runCliProcess } from "../../libs/cli/src/test-support/cli-process.ts";
import { startCliTarget } from "./support/cli-target.ts";

// `threadline inspect` and `threadline sessions` as processes against a real nats-server,
// on a session built to contain one of each anomaly the report knows about.
const { agent: triage, env } = await startCliTarget("triage");
const S = "insp-1";

/** Stores an envelope as any participant (the agent SDK only publishes as itself). */
async function store(lane: string, event: Omit<SessionEvent, "ts"> & { ts?: number }): Promise<number> {
  const subject = `tl.${S}.${lane}.${event.from.kind}.${event.from.id}`;
  const ack = await connectionOf(triage).js.publish(subject, encodeMsgpack({ ts: Date.now(), ...event }), {
    msgID: dedupeKey(S, event.id),
  });
  return ack.seq;
}

const alice = { kind: "user", id: "alice", device: "tab-1" } as const;
const order = { kind: "agent", id: "order" } as const;
const agentTriage = { kind: "agent", id: "triage" } as const;
const seq: Record<string, number> = {};

beforeAll(async () => {
  await triage.presence(S).enter({ status: "thinking" });
  // in-1: started by an agent that is not present, with a message left open → turn-orphaned, message-open.
  seq.in1 = await store("in", { id: "in-1", type: "input", from: alice, data: { text: "buy" } });
  seq.start1 = await store("out", {
    id: "start-1",
    type: "turn.start",
    from: order,
    turn: "in-1",
    ref: "in-1",
    data: { agent: "order", worker: "w-dead" },
  });
  seq.m1 = await store("out", {
    id: "m1-start",
    type: "message.start",
    from: order,
    turn: "in-1",
    ref: "m1",
    data: { role: "assistant" },
  });
  // in-2: asked a minute ago, never started → turn-unstarted.
  seq.in2 = await store("in", {
    id: "in-2",
    type: "input",
    from: alice,
    ts: Date.now() - 60_000,
    data: { text: "hello?" },
  });
  // in-3: a complete turn of the present agent; the control bucket still says running → turn-state-mismatch.
  await store("in", { id: "in-3", type: "input", from: alice, data: { text: "compare" } });
  await store("out", {
    id: "start-3",
    type: "turn.start",
    from: agentTriage,
    turn: "in-3",
    ref: "in-3",
    data: { agent: "triage", worker: "w-1" },
  });
  await store("out", {
    id: "m2-start",
    type: "message.start",
    from: agentTriage,
    turn: "in-3",
    ref: "m2",
    data: { role: "assistant" },
  });
  await store("out", {
    id: "m2-append",
    type: "message.append",
    from: agentTriage,
    turn: "in-3",
    ref: "m2",
    data: { part: 0, delta: "ok" },
  });
  await store("out", {
    id: "m2-end",
    type: "message.end",
    from: agentTriage,
    turn: "in-3",
    ref: "m2",
    data: { status: "complete" },
  });
  seq.end3 = await store("out", {
    id: "end-3",
    type: "turn.end",
    from: agentTriage,
    turn: "in-3",
    data: { status: "completed" },
  });
  // Not an envelope → invalid-events.
  seq.junk = (
    await connectionOf(triage).js.publish(`tl.${S}.out.agent.junk`, new TextEncoder().encode("not msgpack {"))
  ).seq;
  await triage.publish("elsewhere", { type: "note" });

  const kvm = new Kvm(connectionOf(triage).js);
  const cursors = await kvm.open("threadline-cursors");
  await cursors.put(`${S}.alice.tab-1`, JSON.stringify({ epoch: triage.info.epoch, seq: seq.start1, ts: Date.now() }));
  await cursors.put(`${S}.bob.phone`, JSON.stringify({ epoch: triage.info.epoch, seq: 1_000_000, ts: Date.now() }));
  await cursors.put(`${S}.carol.old`, JSON.stringify({ epoch: "another-epoch", seq: 1, ts: Date.now() }));
  const control = await kvm.create(DEFAULT_CONTROL_BUCKET, { history: 1 });
  await control.put(
    controlTurnKey(S, "in-3"),
    JSON.stringify({
      status: "running",
      agent: "triage",
      worker: "w-1",
      updatedAt: Date.now(),
    } satisfies ControlTurnEntry),
  );
  await control.put(
    controlOwnerKey(S),
    JSON.stringify({
      owner: { kind: "operator", id: "olga" },
      by: { kind: "operator", id: "olga" },
      since: Date.now(),
    } satisfies ControlOwnerEntry),
  );
  // Someone present in a session without events.
  await triage.presence("quiet-room").enter({ status: "idle" });
});

describe("threadline inspect", () => {
  it("--json reports presence, turns, messages, cursors and every anomaly", async () => {
    const { code, stdout, stderr } = await runCliProcess(["inspect", S, "--orphan-after", "0s", "--json"], env);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout.join("\n"));
    expect(report.events).toMatchObject({ count: 10, invalid: 1, firstSeq: seq.in1, lastSeq: seq.junk });
    expect(report.owner).toEqual({ kind: "operator", id: "olga" });
    expect(report.present).toEqual([
      expect.objectContaining({
        kind: "agent",
        id: "triage",
        connections: [expect.objectContaining({ status: "thinking", stale: false })],
      }),
    ]);
    expect(report.absent.map((a: { kind: string; id: string }) => `${a.kind}:${a.id}`).sort()).toEqual([
      "agent:order",
      "user:alice",
    ]);
    const turns = Object.fromEntries(report.turns.map((t: { id: string }) => [t.id, t]));
    expect(turns["in-1"]).toMatchObject({
      status: "running",
      agent: "order",
      worker: "w-dead",
      requestSeq: seq.in1,
      startSeq: seq.start1,
      messages: 1,
    });
    expect(turns["in-2"]).toMatchObject({ status: "pending", requestSeq: seq.in2 });
    expect(turns["in-3"]).toMatchObject({
      status: "completed",
      controlStatus: "running",
      endSeq: seq.end3,
      messages: 1,
    });
    expect(report.messages).toEqual({ count: 2, open: 1, byStatus: { open: 1, complete: 1 }, events: 4, inputs: 3 });
    const cursors = Object.fromEntries(report.cursors.map((c: { user: string }) => [c.user, c]));
    // Events of the session after the cursor (the start of in-1): everything but the first two.
    expect(cursors.alice).toMatchObject({ device: "tab-1", seq: seq.start1, behind: 9 });
    expect(cursors.bob.behind).toBeUndefined();
    expect(report.anomalies.map((a: { kind: string }) => a.kind).sort()).toEqual([
      "cursor-ahead",
      "cursor-other-epoch",
      "invalid-events",
      "message-open",
      "turn-orphaned",
      "turn-state-mismatch",
      "turn-unstarted",
    ]);
    const orphan = report.anomalies.find((a: { kind: string }) => a.kind === "turn-orphaned");
    expect(orphan.message).toContain("turn in-1");
  });

  it("prints a readable report", async () => {
    const { code, stdout } = await runCliProcess(["inspect", S, "--orphan-after", "0s"], env);
    expect(code).toBe(0);
    const text = stdout.join("\n");
    expect(text).toContain(`session ${S}`);
    expect(text).toMatch(/owner: operator:olga \(handed off\)/);
    expect(text).toMatch(/agent:triage\s+1 connection: \S+ thinking/);
    expect(text).toMatch(/in-1\s+running\s+order\s+w-dead/);
    expect(text).toMatch(/messages: 2 \(1 open, 1 complete\) in 4 message\.\* events; 3 user inputs/);
    expect(text).toMatch(/alice\/tab-1\s+seq \d+\s+9 events behind/);
    expect(text).toMatch(/! turn-orphaned: turn in-1/);
    expect(text).toMatch(/anomalies \(7\):/);
  });

  it("reports an empty session without anomalies", async () => {
    const { code, stdout } = await runCliProcess(["inspect", "nobody-here", "--json"], env);
    expect(code).toBe(0);
    const report = JSON.parse(stdout.join("\n"));
    expect(report).toMatchObject({
      events: { count: 0, invalid: 0 },
      present: [],
      turns: [],
      cursors: [],
      anomalies: [],
      owner: null,
    });
  });
});

describe("threadline sessions", () => {
  it("lists sessions with presence or recent events", async () => {
    const { code, stdout } = await runCliProcess(["sessions", "--json"], env);
    expect(code).toBe(0);
    const listing = JSON.parse(stdout.join("\n"));
    const byId = Object.fromEntries(listing.sessions.map((s: { session: string }) => [s.session, s]));
    expect(Object.keys(byId).sort()).toEqual(["elsewhere", S, "quiet-room"]);
    expect(byId[S]).toMatchObject({ present: { user: 0, operator: 0, agent: 1 }, recentEvents: 11, lastSeq: seq.junk });
    expect(byId["quiet-room"]).toMatchObject({ present: { agent: 1 }, recentEvents: 0 });
    expect(listing.sessions[0].session).toBe("elsewhere");
  });

  it("a short window keeps only the sessions someone is present in", async () => {
    const { code, stdout } = await runCliProcess(["sessions", "--since", "0s"], env);
    expect(code).toBe(0);
    expect(stdout[0]).toMatch(/^session\s+users\s+ops\s+agents\s+events\s+last event$/);
    const names = stdout.slice(1).map((line) => line.split(/\s+/)[0]);
    expect(names.sort()).toEqual([S, "quiet-room"]);
  });
});
