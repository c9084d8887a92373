import { loadavg } from "node:os";
import { connectAgent, openSession } from "@threadline/agent";
import { createClient, type SessionHandle } from "@threadline/client";
import { startNatsServer } from "@threadline/test-kit";
import WebSocket from "ws";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { type LatencySummary, round, summarize, wallClockMs } from "./stats.ts";
import type { Cell } from "./table.ts";

const SESSION = "bench-state";
const WARMUP = 20;
const TRIAL_TIMEOUT_MS = 10_000;

/**
 * Shared state change latency (PROTOCOL.md §19), device to device, beside an
 * event publish in the same run: two client SDK devices of one user on a
 * gateway process (nats-server and gateway as separate processes).
 * - state: device A `state("cart").set(["n"], i)` → device B's `subscribe`
 *   listener fires with `n === i` (A → gateway pre-check + store →
 *   JetStream → gateway → B, folded with stepState);
 * - event (peer): device A publishes an `input` event → B's `onEvent`;
 * - A's own write resolving (stored, then applied by A's own view);
 * - agent rows: `openSession(agent).state("agent-bench").set` → B's
 *   `subscribe`, beside `agent.publish(note)` → B's `onEvent`, and the same
 *   set published raw (`agent.publish(…, { lane: "st" })`, no SDK view
 *   folding it in this process, which also hosts device B).
 * Trials alternate state / event, each after a `--gap` ms pause (so every
 * path starts from the same idle state: a trial right after another one
 * measured ~0.8 ms faster at p50 on this machine), and see the same load;
 * A stays under the gateway's default maxStateOpsPerSecond (50).
 */
export const state: Scenario = {
  name: "state",
  description: "shared state change device → device (and agent → device) beside an event publish (gateway process)",
  flags: {
    trials: "measured trials per path (default 1000, quick 200)",
    gap: "ms of pause before each trial (default 20)",
  },
  run,
};

async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const params = {
    trials: options.overrides.trials ?? (options.quick ? 200 : 1000),
    gapMs: options.overrides.gap ?? 20,
  };
  const loadBefore = loadavg()[0]!;
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server and the gateway process");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    const agent = await connectAgent({ servers: nats.url, id: "bench-agent" });
    cleanup.defer("agent", () => agent.close());
    // Device A sends ~2 events per gap (state + input): keep the per-user event limit (50/s) out of the
    // measurement, as the control bench does; the per-socket state-op limit stays at its default.
    const gateway = await spawnGateway(nats.url, {
      THREADLINE_GATEWAY_ID: "bench-gateway",
      THREADLINE_LIMIT_USER_EVENTS_PER_SECOND: "100000",
      THREADLINE_LIMIT_USER_EVENT_BURST: "100000",
    });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());

    const device = (name: string) => {
      const client = createClient({
        url: gateway.url,
        token: () => mintToken({ sub: "bench-user" }),
        device: name,
        WebSocket: WebSocket as never,
      });
      cleanup.defer(`device ${name}`, () => client.close());
      return client.attach(SESSION, { from: "now" });
    };
    const a = await device("a");
    const b = await device("b");
    const agentSession = await openSession(agent, SESSION, { presence: false });
    cleanup.defer("agent session", () => agentSession.close());
    const agentObject = await agentSession.state("agent-bench");

    const arrivals = arrivalsAt(b);
    const cart = a.state("cart");
    const paths = {
      state: [] as number[],
      event: [] as number[],
      ownWrite: [] as number[],
      agentState: [] as number[],
      agentEvent: [] as number[],
      agentRaw: [] as number[],
    };
    const total = WARMUP + params.trials;
    options.progress(`${params.trials} trials per path (+${WARMUP} warm-up), ${params.gapMs} ms apart`);
    for (let i = 0; i < total; i++) {
      const measured = i >= WARMUP;
      // device → device: state change, then an event
      let arrived = arrivals.next("state", "cart", i);
      let t0 = wallClockMs();
      await cart.set(["n"], i);
      const resolved = wallClockMs();
      let at = await arrived;
      if (measured) {
        paths.state.push(at - t0);
        paths.ownWrite.push(resolved - t0);
      }
      await pause(params.gapMs);
      arrived = arrivals.next("event", "input", i);
      t0 = wallClockMs();
      await a.publish({ type: "input", data: { i } });
      at = await arrived;
      if (measured) paths.event.push(at - t0);
      await pause(params.gapMs);
      // agent → device: state change, then an event
      arrived = arrivals.next("state", "agent-bench", i);
      t0 = wallClockMs();
      await agentObject.set(["n"], i);
      at = await arrived;
      if (measured) paths.agentState.push(at - t0);
      await pause(params.gapMs);
      arrived = arrivals.next("event", "note", i);
      t0 = wallClockMs();
      await agentSession.publish({ type: "note", data: { i } });
      at = await arrived;
      if (measured) paths.agentEvent.push(at - t0);
      await pause(params.gapMs);
      // The same op published raw (no agent SDK view folding it in this process): what the view costs here.
      arrived = arrivals.next("state", "agent-bench", -i - 1);
      t0 = wallClockMs();
      const op = { op: "set", object: "agent-bench", path: ["n"], value: -i - 1 };
      await agent.publish(SESSION, { type: "state", data: op }, { lane: "st" });
      at = await arrived;
      if (measured) paths.agentRaw.push(at - t0);
      await pause(params.gapMs);
      if ((i + 1) % 200 === 0) options.progress(`${i + 1 - WARMUP} trials`);
    }
    const loadAfter = loadavg()[0]!;

    const s = {
      state: summarize(paths.state),
      event: summarize(paths.event),
      ownWrite: summarize(paths.ownWrite),
      agentState: summarize(paths.agentState),
      agentEvent: summarize(paths.agentEvent),
      agentRaw: summarize(paths.agentRaw),
    };
    const ratio = (x: LatencySummary, y: LatencySummary) => ({ p50: round(x.p50 / y.p50), p99: round(x.p99 / y.p99) });
    const json = {
      scenario: "state",
      stateP50Ms: round(s.state.p50),
      stateP99Ms: round(s.state.p99),
      stateMaxMs: round(s.state.max),
      eventP50Ms: round(s.event.p50),
      eventP99Ms: round(s.event.p99),
      eventMaxMs: round(s.event.max),
      stateVsEvent: ratio(s.state, s.event),
      ownWriteP50Ms: round(s.ownWrite.p50),
      ownWriteP99Ms: round(s.ownWrite.p99),
      agentStateP50Ms: round(s.agentState.p50),
      agentStateP99Ms: round(s.agentState.p99),
      agentEventP50Ms: round(s.agentEvent.p50),
      agentEventP99Ms: round(s.agentEvent.p99),
      agentStateVsEvent: ratio(s.agentState, s.agentEvent),
      agentRawStateP50Ms: round(s.agentRaw.p50),
      agentRawStateP99Ms: round(s.agentRaw.p99),
      load: { before: round(loadBefore), after: round(loadAfter) },
      params: { ...params, warmup: WARMUP, quick: options.quick },
    };
    const row = (label: string, x: LatencySummary, vs?: LatencySummary): Cell[] => [
      label,
      x.count,
      round(x.p50),
      round(x.p90),
      round(x.p99),
      round(x.max),
      vs ? `${round(x.p50 / vs.p50)} / ${round(x.p99 / vs.p99)}` : "–",
    ];
    return {
      json,
      tables: [
        {
          title: "state: change latency (ms), same run",
          columns: ["path", "n", "p50", "p90", "p99", "max", "÷ event p50 / p99"],
          rows: [
            row("device A state set → device B subscribe", s.state, s.event),
            row("device A input publish → device B onEvent", s.event),
            row("device A state set → resolved at A (applied)", s.ownWrite, s.event),
            row("agent state set → device B subscribe", s.agentState, s.agentEvent),
            row("agent note publish → device B onEvent", s.agentEvent),
            row("agent raw state publish (no SDK view) → device B subscribe", s.agentRaw, s.agentEvent),
          ],
          notes: [
            `state vs event (device → device): p50 ${json.stateVsEvent.p50}×, p99 ${json.stateVsEvent.p99}×`,
            "state: client pre-check → gateway serialized pre-check against its view → JetStream store → gateway feed → B's fold.",
            `load average (1 min): ${json.load.before} before, ${json.load.after} after`,
          ],
        },
      ],
    };
  } finally {
    await cleanup.run();
  }
}

function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/**
 * Device B's arrivals: `next(kind, name, i)` resolves with the wall-clock time
 * B's `state(name).subscribe` listener (with `n === i`) or event listener (event
 * type `name` with `data.i === i`) fired; registered before the write.
 */
function arrivalsAt(b: SessionHandle) {
  let waiting: { key: string; resolve: (at: number) => void } | undefined;
  const arrive = (key: string) => {
    const at = wallClockMs();
    if (waiting?.key !== key) return;
    waiting.resolve(at);
    waiting = undefined;
  };
  for (const object of ["cart", "agent-bench"]) {
    b.state(object).subscribe(({ value }) => arrive(`state:${object}:${(value as { n?: number } | undefined)?.n}`));
  }
  b.onEvent((r) => {
    if (r.event.type !== "state") arrive(`event:${r.event.type}:${(r.event.data as { i?: number } | undefined)?.i}`);
  });
  return {
    next(kind: "state" | "event", name: string, i: number): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${kind} ${name} #${i} did not arrive`)), TRIAL_TIMEOUT_MS);
        waiting = {
          key: `${kind}:${name}:${i}`,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
      });
    },
  };
}
