import type { Agent } from "@threadline/agent";
import { waitFor } from "@threadline/test-kit";
import { connectionOf } from "../../../libs/agent/src/agent.ts";

/** Event type of the load's events. */
export const TICK_TYPE = "chaos.tick";

/** The payload of every load event: its number in the session and when its first publish attempt started. */
export interface TickData {
  n: number;
  /** `Date.now()` at the first publish attempt. */
  t: number;
}

interface Ack {
  id: string;
  seq: number;
  sentAt: number;
  ackedAt: number;
}

/**
 * Agents publishing to their sessions under chaos. Each session has one
 * publisher loop: publish, and on any error retry the SAME event id until
 * the stream acknowledges it (what an agent must do for exactly-once; the
 * stream's duplicate window keeps one copy), then pause `intervalMs`.
 */
export interface Load {
  readonly sessions: readonly string[];
  /** Events whose first publish attempt started. */
  published(): number;
  /** Events the stream acknowledged. */
  acked(): number;
  /** Publish attempts that failed and were retried. */
  retries(): number;
  /** Acknowledged events of a session (event id and the seq the ack named), in publish order. */
  ackedEvents(session: string): { id: string; seq: number }[];
  /**
   * Waits until every session has an acknowledged event first sent at or
   * after `since` (ms since the epoch); resolves to the time that took from
   * `since` — how long publishing was interrupted.
   */
  recovered(since: number, timeoutMs?: number): Promise<number>;
  /** Stops the loops after their current event is acknowledged. */
  stop(): Promise<void>;
}

export function startLoad(
  agents: readonly Agent[],
  sessions: readonly string[],
  options: { intervalMs?: number } = {},
): Load {
  const intervalMs = options.intervalMs ?? 10;
  const acks = new Map<string, Ack[]>(sessions.map((s) => [s, []]));
  let published = 0;
  let retries = 0;
  let stopped = false;
  /** Per session, the last failed attempt's error (cleared by an ack), for a timeout's message. */
  const lastErrors = new Map<string, string>();
  const loops = sessions.map(async (session, i) => {
    const agent = agents[i % agents.length] as Agent;
    const list = acks.get(session) as Ack[];
    for (let n = 0; !stopped; n++) {
      const data: TickData = { n, t: Date.now() };
      const id = `${session}-${n}`;
      published++;
      for (;;) {
        try {
          const ack = await agent.publish(session, { id, type: TICK_TYPE, data });
          list.push({ id, seq: ack.seq, sentAt: data.t, ackedAt: Date.now() });
          lastErrors.delete(session);
          break;
        } catch (error) {
          retries++;
          lastErrors.set(
            session,
            `${new Date().toISOString()} ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`.slice(
              0,
              300,
            ),
          );
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  });
  return {
    sessions,
    published: () => published,
    acked: () => [...acks.values()].reduce((sum, list) => sum + list.length, 0),
    retries: () => retries,
    ackedEvents: (session) => (acks.get(session) ?? []).map(({ id, seq }) => ({ id, seq })),
    async recovered(since, timeoutMs = 60_000) {
      const at = await waitFor(
        () => {
          const times = [...acks.values()].map((list) => list.find((a) => a.sentAt >= since)?.ackedAt);
          return times.every((t) => t !== undefined) ? Math.max(...(times as number[])) : undefined;
        },
        {
          timeoutMs,
          intervalMs: 20,
          message: () => {
            const behind = [...acks].filter(([, list]) => !list.some((a) => a.sentAt >= since));
            const agentStates = agents.map((a, i) => {
              const { nc, publisher } = connectionOf(a);
              const pending = (publisher as { size?: number }).size ?? "?";
              return `agent ${i}: ${nc.isClosed() ? "closed" : `open to ${nc.getServer()}`}, ${pending} publishes awaiting an ack`;
            });
            return (
              `publishing did not resume in every session: ${behind.length} behind (${agentStates.join(", ")}); ` +
              behind
                .map(
                  ([session, list]) =>
                    `${session}: last ack ${list.length > 0 ? new Date(list.at(-1)!.ackedAt).toISOString() : "none"}, last error ${lastErrors.get(session) ?? "none"}`,
                )
                .join("; ")
            );
          },
        },
      );
      return at - since;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
