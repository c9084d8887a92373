import type { Agent } from "@threadline/agent";
import { isHealthy, type NatsServer, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { type ChaosStack, startChaosStack } from "./chaos-stack.ts";
import { type Load, startLoad } from "./load.ts";
import type { ChaosSummary } from "./report.ts";
import { startViewers, type ViewerSpec, type Viewers } from "./viewers.ts";

/** How long a file's stack start may take before it is abandoned (below the chaos suite's 60 s hook timeout). */
const START_DEADLINE_MS = 55_000;

/**
 * One chaos stack for the file's tests: started before the first, closed after the last, its logs
 * printed when a test fails. Returns the stack (call it inside a test or hook, once it is started).
 */
export function useChaosStack(): () => ChaosStack {
  let stack: ChaosStack | undefined;
  beforeAll(async () => {
    // Before the hook's own timeout (60 s, vitest.config.ts): a start given up on stops what it started.
    const abandon = new AbortController();
    const deadline = setTimeout(() => abandon.abort(), START_DEADLINE_MS);
    try {
      stack = await startChaosStack({ signal: abandon.signal });
    } finally {
      clearTimeout(deadline);
    }
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(stack?.logs()));
  });
  return () => {
    if (!stack) throw new Error("the chaos stack is not started (call it inside a test)");
    return stack;
  };
}

/** A viewer of each session of a scenario: {@link ViewerSpec} but the session. */
export type ViewerMix = Omit<ViewerSpec, "session">;

/** A viewer that tries these gateways in this order and is never dropped by the monkey. */
export function pinned(...gateways: { url: string }[]): ViewerMix {
  return { urls: gateways.map((g) => g.url), roaming: false };
}

/** A viewer that tries these gateways in this order and whose socket the monkey drops at random. */
export function roaming(...gateways: { url: string }[]): ViewerMix {
  return { urls: gateways.map((g) => g.url), roaming: true };
}

/** What a scenario runs under: agents publishing load to every session and viewers watching them, warmed up. */
export interface Traffic {
  readonly agents: Agent[];
  readonly load: Load;
  readonly viewers: Viewers;
}

/**
 * Starts load on `sessions` (agents `agentIndexes` of the stack, connected one after the other) and
 * the `viewers` on each session (in that order), waits until every viewer applied 150 events, runs
 * `scenario` and closes the viewers whatever happens.
 */
export async function withTraffic(
  stack: ChaosStack,
  options: { sessions: string[]; agentIndexes?: number[]; viewers: ViewerMix[] },
  scenario: (traffic: Traffic) => Promise<void>,
): Promise<void> {
  const agents: Agent[] = [];
  for (const index of options.agentIndexes ?? [0, 1]) agents.push(await stack.agent(index));
  const load = startLoad(agents, options.sessions);
  const viewers = await startViewers(
    options.sessions.flatMap((session) => options.viewers.map((viewer) => ({ session, ...viewer }))),
  );
  try {
    await viewers.warmedUp(150);
    await scenario({ agents, load, viewers });
  } finally {
    await viewers.close();
  }
}

/** What every scenario must prove: no acknowledged event lost or moved, none lost or applied twice at a client. */
export function expectNoLoss(summary: ChaosSummary): void {
  expect(summary.lostAcked).toBe(0);
  expect(summary.movedAcked).toBe(0);
  expect(summary.lost).toBe(0);
  expect(summary.duplicated).toBe(0);
  expect(summary.mismatchedViewers).toBe(0);
  expect(summary.acked).toBe(summary.published);
}

/** Restarted NATS nodes (see {@link restartServing}). */
export interface RestartedNodes {
  /**
   * Ms from the restart until every node reported current (`/healthz` ok), waiting up to `timeoutMs` more
   * for it; -1 when one still had not. Ends the watch.
   */
  currentMs(timeoutMs?: number): Promise<number>;
}

/**
 * Restarts `servers` on their ports and stores and resolves once each serves clients with JetStream
 * enabled (`restart({ ready: "serving" })`), not once each is current: nats-server 2.10.27 now and then
 * leaves a restarted node "not current with the meta leader" for over a minute — a server bug, not what a
 * scenario tests (test/chaos/README.md). When they got current is watched for the report.
 */
export async function restartServing(servers: readonly NatsServer[]): Promise<RestartedNodes> {
  const restartedAt = Date.now();
  await Promise.all(servers.map((s) => s.restart({ ready: "serving" })));
  const watching = new AbortController();
  const current = waitFor(async () => (await Promise.all(servers.map((s) => isHealthy(s.monitorUrl)))).every(Boolean), {
    timeoutMs: 120_000,
    intervalMs: 100,
    signal: watching.signal,
  }).then(
    () => Date.now() - restartedAt,
    () => -1,
  );
  return {
    async currentMs(timeoutMs = 15_000) {
      const timer = setTimeout(() => watching.abort(), timeoutMs);
      try {
        return await current;
      } finally {
        clearTimeout(timer);
        watching.abort();
      }
    },
  };
}
