import { createClient } from "@threadline/client";
import type { PresenceEventData, SessionEvent } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { expect, test } from "vitest";
import WebSocket from "ws";
import { mintToken } from "../integration/support/tokens.ts";
import { AGENT_ID } from "./support/chaos-stack.ts";
import { useChaosStack } from "./support/scenario.ts";

type PresenceEvent = SessionEvent<PresenceEventData>;

/** The agent's presence events of one session as a client sees them (through a gateway). */
interface PresenceLog {
  readonly events: PresenceEvent[];
  /** Resolves with the index-th presence event of the agent. */
  nth(index: number): Promise<PresenceEvent>;
}

// One of the two presence replicas is SIGKILLed while agents keep entering
// and leaving sessions. Both replicas publish every transition under the
// same event id (the stream keeps one), so with one gone the survivor alone
// must still store each join and leave: none missing, none twice.

const chaosStack = useChaosStack();

const SESSIONS = ["pk-1", "pk-2", "pk-3", "pk-4"];
const CYCLES_BEFORE = 3;
const CYCLES_AFTER = 4;

test("SIGKILL of a presence replica: every join and leave stored exactly once", async () => {
  const stack = chaosStack();
  const agent = await stack.agent(1);
  let killedAt = 0;
  /** ms from an enter/leave call until its event was stored, for transitions started after the kill. */
  const afterKillMs: number[] = [];
  /** enter/leave calls made, and those whose bucket write resolved. */
  let published = 0;
  let acked = 0;
  const cycle = async (session: string, log: PresenceLog, seen: { n: number }) => {
    const presence = agent.presence(session);
    for (const [action, type] of [
      [() => presence.enter({ status: "active" }), "presence.join"],
      [() => presence.leave(), "presence.leave"],
    ] as const) {
      const started = Date.now();
      published++;
      await action();
      acked++;
      const index = seen.n++;
      // The index-th transition of this agent in this session, whatever its type: a wrong order shows as a type mismatch.
      const event = await log.nth(index);
      expect(event.type).toBe(type);
      if (killedAt && started >= killedAt) afterKillMs.push(Date.now() - started);
    }
  };
  const client = createClient({
    url: stack.direct.url,
    token: () => mintToken({ sub: "presence-watcher" }),
    WebSocket: WebSocket as never,
  });
  const logs: PresenceLog[] = [];
  for (const session of SESSIONS) {
    const events: PresenceEvent[] = [];
    const handle = await client.attach(session, { from: "start" });
    handle.onEvent((r) => {
      const data = r.event.data as PresenceEventData | undefined;
      if (r.event.type.startsWith("presence.") && data?.id === AGENT_ID) events.push(r.event as PresenceEvent);
    });
    logs.push({
      events,
      nth: (index) =>
        waitFor(() => events[index], {
          timeoutMs: 20_000,
          message: () => `${session}: presence event #${index} of ${AGENT_ID}; have ${events.map((e) => e.type)}`,
        }),
    });
  }
  try {
    const seen = SESSIONS.map(() => ({ n: 0 }));
    const run = (cycles: number) =>
      Promise.all(
        SESSIONS.map(async (session, i) => {
          for (let c = 0; c < cycles; c++) await cycle(session, logs[i]!, seen[i]!);
        }),
      );
    await run(CYCLES_BEFORE);
    // Kill while transitions are in flight: start the next cycles, then kill.
    const more = run(CYCLES_AFTER);
    killedAt = Date.now();
    await stack.presence[0]!.kill();
    await more;

    let stored = 0;
    let duplicated = 0;
    let missing = 0;
    for (const session of SESSIONS) {
      const events: PresenceEvent[] = [];
      for await (const r of agent.history(session)) {
        if (r.event.type.startsWith("presence.") && (r.event.data as { id?: string }).id === AGENT_ID) {
          events.push(r.event as PresenceEvent);
        }
      }
      stored += events.length;
      const ids = new Set(events.map((e) => e.id));
      duplicated += events.length - ids.size;
      const expected = Array.from({ length: CYCLES_BEFORE + CYCLES_AFTER }, () => [
        "presence.join",
        "presence.leave",
      ]).flat();
      missing += Math.max(0, expected.length - events.length);
      expect(events.map((e) => e.type)).toEqual(expected);
    }
    const transitions = SESSIONS.length * (CYCLES_BEFORE + CYCLES_AFTER) * 2;
    console.log(
      `[chaos] presence-replica-kill: published=${published} acked=${acked} delivered=${stored} ` +
        `lost=${missing} duplicated=${duplicated} | recovery maxTransitionAfterKillMs=${Math.max(...afterKillMs)} | ` +
        `replicas=2 killed=1 sessions=${SESSIONS.length}`,
    );
    expect(published).toBe(transitions);
    expect(acked).toBe(published);
    expect(stored).toBe(transitions);
    expect(duplicated).toBe(0);
    expect(missing).toBe(0);
    // What the client received equals what is stored, per session (no duplicate delivered late).
    for (const log of logs) expect(log.events).toHaveLength(CYCLES_BEFORE * 2 + CYCLES_AFTER * 2);
  } finally {
    await client.close();
  }
});
