import type { Agent } from "@threadline/agent";
import type { SessionHandle } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import {
  deviceClient,
  type SessionLog,
  sessionLog,
  startWorkerProcess,
  type WorkerProcess,
} from "../integration/support/control-agent.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { startLoad } from "./support/load.ts";
import { formatSummary, settle } from "./support/report.ts";
import { expectNoLoss, restartServing, useChaosStack } from "./support/scenario.ts";
import { startViewers } from "./support/viewers.ts";

// The whole stack dies at once mid-turn (issue 13): every NATS node, both gateways, both presence
// replicas and every agent worker get SIGKILL together while 20 sessions each run a streaming
// turn and agents publish load. Everything is started again (NATS on the same stores; new
// gateway, presence and worker processes); meanwhile a user presses Stop in 5 sessions. Within
// the orphan bound after the workers are back, every turn that was running must be taken over
// (`turn.resumed`) or ended, and in the end no turn may be left running: the cancelled ones end
// `cancelled`, the others `completed` (re-run after a takeover) or `interrupted` (orphan sweep:
// the inputs of 4 sessions are acked while no worker runs, so no redelivery comes for them).
// And, as in every scenario: 0 acknowledged events lost, 0 lost or duplicated at clients.

const SESSIONS = Array.from({ length: 20 }, (_, i) => `wk-${i + 1}`);
const CANCELLED = new Set(SESSIONS.slice(0, 5));
/**
 * Sessions whose input the crash "acked" (as a worker that died after its ack but before its
 * turn.end would): nothing redelivers them, so only the orphan sweep can end their turns. One of
 * them is also cancelled.
 */
const ACKED = new Set(SESSIONS.slice(4, 8));
const LEASE_MS = 1000;
const ORPHAN_AFTER_MS = 4000;
/** PROTOCOL.md §17.6: taken over about a lease after the restart, or ended within 1.25 × orphanAfterMs + 2 s. */
const BOUND_MS = 1.25 * ORPHAN_AFTER_MS + 2000;
/** Scheduling slack on a loaded 2-core machine on top of the documented bound. */
const SLACK_MS = 5000;
/** Each turn streams this many deltas, 10 ms apart: a re-run after the takeover ends within seconds. */
const TURN_TEXT = "stream 500";

const chaosStack = useChaosStack();

async function workers(names: string[]): Promise<WorkerProcess[]> {
  const started = await Promise.all(
    names.map((worker) =>
      startWorkerProcess("", {
        worker,
        leaseMs: LEASE_MS,
        orphanAfterMs: ORPHAN_AFTER_MS,
        concurrency: 16,
        env: chaosStack().agentEnv,
      }),
    ),
  );
  for (const w of started) onTestFinished(() => w.kill("SIGKILL"));
  return started;
}

/** Takes the pool's pending inputs of `sessions` off its durable with an ack (the others are nak'ed: redelivered at once). */
async function ackInputs(agent: Agent, sessions: ReadonlySet<string>): Promise<void> {
  const consumer = await connectionOf(agent).js.consumers.get(agent.info.stream, "pool-assistant");
  const acked = new Set<string>();
  await waitFor(
    async () => {
      const batch = await consumer.fetch({ max_messages: SESSIONS.length, expires: 1000 });
      for await (const m of batch) {
        const session = m.subject.split(".")[1] as string;
        if (sessions.has(session)) {
          await m.ackAck();
          acked.add(session);
        } else m.nak();
      }
      return acked.size === sessions.size;
    },
    { timeoutMs: 30_000, message: () => `acked inputs of ${[...acked].join(",")}` },
  );
}

/**
 * Starts a service as a supervisor would: a gateway exits when a JetStream request at startup times
 * out (a cluster that just restarted may still be electing), and is started again.
 */
async function supervised<T>(start: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

const turnEnd = (log: SessionLog, turn: string) =>
  log.records.find((r) => r.event.type === "turn.end" && r.event.turn === turn);
const resumed = (log: SessionLog, turn: string) =>
  log.records.find((r) => r.event.type === "turn.resumed" && r.event.turn === turn);

test("whole-stack SIGKILL mid-turn across 20 sessions: every turn taken over or ended within the bound, none left running, 0 acknowledged events lost", async () => {
  const stack = chaosStack();
  const before = await workers(["wk-a", "wk-b"]);
  const agents = [await stack.agent(0), await stack.agent(1)];
  const load = startLoad(agents, SESSIONS, { intervalMs: 100 });
  const alice = deviceClient(
    { gateway: stack.direct, token: (c) => mintToken({ sub: "alice", ...c }) },
    "alice",
    "tab",
  );
  const turns = new Map<string, string>();
  const running: SessionLog[] = [];
  for (const session of SESSIONS) {
    const handle = await alice.attach(session, { from: "start" });
    const log = sessionLog(handle);
    running.push(log);
    const { id } = await handle.publish({ type: "input", data: { text: TURN_TEXT } });
    turns.set(session, id);
  }
  // Every turn is mid-stream: started, with a message being written.
  await waitFor(
    () =>
      SESSIONS.every((session, i) =>
        running[i]?.records.some((r) => r.event.type === "message.append" && r.event.turn === turns.get(session)),
      ),
    { timeoutMs: 30_000, message: "not every turn was streaming" },
  );

  const killedAt = Date.now();
  await Promise.all([
    ...stack.cluster.servers.map((s) => s.kill("SIGKILL")),
    stack.direct.kill(),
    stack.proxied.kill(),
    ...stack.presence.map((p) => p.kill()),
    ...before.map((w) => w.kill("SIGKILL")),
  ]);
  alice.close();
  const restartAt = Date.now();
  // Serving, not current (restartServing): a node stuck catching up is a nats-server bug, not this test's subject.
  const restarted = await restartServing(stack.cluster.servers);
  onTestFinished(() => void restarted.currentMs(0));
  // Agreement on a leader is enough here: followers still catching up are fine, what this test waits for
  // next is the stream taking acks again (CI once saw all three agree while a follower was not yet current
  // after 15 s).
  await stack.cluster.metaLeader({ followers: "prefer" });
  // The stream takes acks again (its Raft group elected a leader) before the services come back.
  const publishMs = await load.recovered(restartAt, 60_000);
  const gateway = await supervised(() => stack.spawnGateway("gw-after"));
  await Promise.all([
    supervised(() => stack.spawnPresence("pa-after")),
    supervised(() => stack.spawnPresence("pb-after")),
  ]);
  const restartMs = Date.now() - restartAt;

  // Stop pressed on another device while no worker runs: the cancels are stored, nobody acts on them yet.
  const phone = deviceClient({ gateway, token: (c) => mintToken({ sub: "alice", ...c }) }, "alice", "phone");
  const logs = new Map<string, SessionLog>();
  for (const session of SESSIONS) {
    const handle: SessionHandle = await phone.attach(session, { from: "start" });
    logs.set(session, sessionLog(handle));
    if (CANCELLED.has(session)) {
      await waitFor(
        () =>
          handle
            .publish({ type: "cancel", turn: turns.get(session)!, data: { reason: "stop after the crash" } })
            .then(() => true)
            .catch(() => false),
        { timeoutMs: 30_000, message: `the cancel of ${session} was not stored` },
      );
    }
  }

  await ackInputs(agents[0]!, ACKED);

  const backAt = Date.now();
  await workers(["wk-c", "wk-d"]);
  const accounted = (session: string) => {
    const log = logs.get(session)!;
    const turn = turns.get(session)!;
    return turnEnd(log, turn) !== undefined || resumed(log, turn) !== undefined;
  };
  await waitFor(() => SESSIONS.every(accounted), { timeoutMs: BOUND_MS + SLACK_MS + 30_000 }).catch(() => {});
  const accountedMs = Date.now() - backAt;
  const unaccounted = SESSIONS.filter((s) => !accounted(s));
  // Taken-over turns re-run their handler (a few seconds); then none may be left running.
  await waitFor(() => SESSIONS.every((s) => turnEnd(logs.get(s)!, turns.get(s)!) !== undefined), {
    timeoutMs: 30_000,
  }).catch(() => {});
  const ends = SESSIONS.map((s) => ({ session: s, end: turnEnd(logs.get(s)!, turns.get(s)!) }));
  const statusOf = (e: (typeof ends)[number]) => (e.end?.event.data as { status?: string } | undefined)?.status;
  const count = (status: string) => ends.filter((e) => statusOf(e) === status).length;
  const takenOver = SESSIONS.filter((s) => resumed(logs.get(s)!, turns.get(s)!) !== undefined).length;

  const viewers = await startViewers(SESSIONS.map((session) => ({ session, urls: [gateway.url], roaming: false })));
  try {
    const summary = await settle("whole-stack-kill", agents[0]!, load, viewers, {
      downMs: restartAt - killedAt,
      restartMs,
      publishMs,
      turnsAccountedMs: accountedMs,
    });
    summary.recoveryMs.currentMs = await restarted.currentMs();
    summary.extra = {
      ...summary.extra,
      turns: SESSIONS.length,
      takenOver,
      completed: count("completed"),
      cancelled: count("cancelled"),
      interrupted: count("interrupted"),
      unaccountedAtBound: unaccounted.length,
      leftRunning: ends.filter((e) => e.end === undefined).length,
    };
    console.log(formatSummary(summary));
    expect(unaccounted).toEqual([]);
    expect(accountedMs).toBeLessThan(BOUND_MS + SLACK_MS);
    expect(ends.filter((e) => e.end === undefined).map((e) => e.session)).toEqual([]);
    for (const e of ends) {
      if (CANCELLED.has(e.session)) expect(statusOf(e), e.session).toBe("cancelled");
      else if (ACKED.has(e.session)) expect(statusOf(e), e.session).toBe("interrupted");
      else expect(statusOf(e), e.session).toBe("completed");
    }
    expectNoLoss(summary);
  } finally {
    await viewers.close();
  }
});
