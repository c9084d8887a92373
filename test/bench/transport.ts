import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { type Agent, connectAgent } from "@threadline/agent";
import { createClient, type ThreadlineClient, type TransportMode } from "@threadline/client";
import { startNatsServer } from "@threadline/test-kit";
import WebSocket from "ws";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import { ProcessSampler, type ProcessUsage } from "./process-sampler.ts";
import { randomPositions } from "./resume.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { LatencyRecorder, type LatencySummary, round, summarize, wallClockMs } from "./stats.ts";
import { runSteadySchedule } from "./steady-schedule.ts";
import type { Cell } from "./table.ts";

const SEED = 17;
const WARMUP = 3;
/** Sessions per client: below the gateway's open live HTTP reads per user (16). */
const SESSIONS_PER_CLIENT = 10;

/**
 * The client SDK's transports side by side in one run (PROTOCOL.md §21.10),
 * the same client code against one gateway process (nats-server and gateway
 * as separate processes; clients and the agent in the bench process):
 * - **live delivery**: S sessions, each attached `from: "now"` by a
 *   `transport: "websocket"` client and a `transport: "http"` client (SSE
 *   live reads) at the same time, so both see every event under the same
 *   load; the agent publishes at a steady rate; latency = agent publish call
 *   → the client's `onEvent`, per event and transport; lost / duplicated
 *   against the stored seqs;
 * - **resume**: a new client per trial attaches a filled session from a
 *   seeded random position and is timed until `whenSynced()` (connect,
 *   welcome, catch-up), with `websocket`, `http` and `auto` behind a proxy
 *   that refuses the upgrade (fallback included), trials interleaved.
 */
export const transport: Scenario = {
  name: "transport",
  description:
    "client SDK over HTTP (Durable Streams, SSE) vs WebSocket: live delivery p99 and resume time (gateway process)",
  flags: {
    sessions: "sessions, each attached by one client per transport (default 100, quick 30)",
    rate: "events per second per session (default 2)",
    duration: "seconds of publishing (default 20, quick 8)",
    events: "events in the resumed session (default 5000, quick 1000)",
    trials: "resumes per transport (default 40, quick 10)",
  },
  run,
};

interface LivePhase {
  summary: Record<"websocket" | "http", LatencySummary>;
  lost: Record<"websocket" | "http", number>;
  duplicated: Record<"websocket" | "http", number>;
  stored: number;
  usage: ProcessUsage[];
}

async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const params = {
    sessions: options.overrides.sessions ?? (options.quick ? 30 : 100),
    rate: options.overrides.rate ?? 2,
    durationS: options.overrides.duration ?? (options.quick ? 8 : 20),
    events: options.overrides.events ?? (options.quick ? 1000 : 5000),
    trials: options.overrides.trials ?? (options.quick ? 10 : 40),
  };
  const loadBefore = loadavg()[0]!;
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server and the gateway process");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    const agent = await connectAgent({ servers: nats.url, id: "bench-agent" });
    cleanup.defer("agent", () => agent.close());
    const gateway = await spawnGateway(nats.url, { THREADLINE_GATEWAY_ID: "bench-gateway" });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());
    const refuser = await upgradeRefuser();
    cleanup.defer("refusing proxy", () => refuser.close());
    const processes: [string, number | undefined][] = [
      ["gateway", gateway.pid],
      ["nats-server", nats.pid],
    ];
    const clientOf = (mode: TransportMode, user: string): ThreadlineClient => {
      const client = createClient({
        url: gateway.url,
        transport: mode,
        token: () => mintToken({ sub: user }),
        WebSocket: (mode === "auto" ? refuser.WebSocket : WebSocket) as never,
      });
      cleanup.defer(`client ${user}`, () => client.close());
      return client;
    };

    const live = await livePhase(options, params, agent, clientOf, processes);
    const resume = await resumePhase(options, params, agent, clientOf);
    const loadAfter = loadavg()[0]!;
    return report(params, live, resume, { before: loadBefore, after: loadAfter }, options.quick);
  } finally {
    await cleanup.run();
  }
}

async function livePhase(
  options: ScenarioOptions,
  params: { sessions: number; rate: number; durationS: number },
  agent: Agent,
  clientOf: (mode: TransportMode, user: string) => ThreadlineClient,
  processes: [string, number | undefined][],
): Promise<LivePhase> {
  const sessions = Array.from({ length: params.sessions }, (_, i) => `bench-live-${i}`);
  const transports = ["websocket", "http"] as const;
  const recorders = { websocket: new LatencyRecorder(), http: new LatencyRecorder() };
  /** Seqs received per transport and session. */
  const received = { websocket: sessions.map(() => [] as number[]), http: sessions.map(() => [] as number[]) };
  options.progress(`attaching ${params.sessions} sessions per transport`);
  for (const mode of transports) {
    for (let c = 0; c * SESSIONS_PER_CLIENT < sessions.length; c++) {
      const client = clientOf(mode, `bench-${mode}-${c}`);
      const mine = sessions.slice(c * SESSIONS_PER_CLIENT, (c + 1) * SESSIONS_PER_CLIENT);
      for (const [k, session] of mine.entries()) {
        const index = c * SESSIONS_PER_CLIENT + k;
        const handle = await client.attach(session, { from: "now" });
        handle.onEvent((r) => {
          const at = wallClockMs();
          received[mode][index]!.push(r.seq);
          const t = (r.event.data as { t?: number } | undefined)?.t;
          if (typeof t === "number") recorders[mode].record(at - t);
        });
        await handle.whenSynced();
      }
    }
  }
  const stored = sessions.map(() => [] as number[]);
  const sampler = new ProcessSampler();
  for (const [name, pid] of processes) sampler.watch(name, pid);
  sampler.start();
  options.progress(`publishing ${params.rate}/s to each of ${params.sessions} sessions for ${params.durationS} s`);
  const pending: Promise<unknown>[] = [];
  await runSteadySchedule(
    { sessions: params.sessions, ratePerSession: params.rate, durationMs: params.durationS * 1000 },
    (index, n) => {
      const publish = agent
        .publish(sessions[index]!, { type: "note", data: { n, t: wallClockMs() } })
        .then((ack) => stored[index]!.push(ack.seq));
      pending.push(publish);
    },
  );
  await Promise.all(pending);
  // Let the last events arrive (bounded: every loop ends by itself).
  const deadline = performance.now() + 10_000;
  const complete = () =>
    transports.every((mode) => stored.every((seqs, i) => received[mode][i]!.length >= seqs.length));
  while (!complete() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const usage = sampler.stop();
  const lost = { websocket: 0, http: 0 };
  const duplicated = { websocket: 0, http: 0 };
  for (const mode of transports) {
    for (const [i, seqs] of stored.entries()) {
      const got = received[mode][i]!;
      const unique = new Set(got);
      duplicated[mode] += got.length - unique.size;
      for (const seq of seqs) if (!unique.has(seq)) lost[mode]++;
    }
  }
  return {
    summary: { websocket: recorders.websocket.summary(), http: recorders.http.summary() },
    lost,
    duplicated,
    stored: stored.reduce((n, s) => n + s.length, 0),
    usage,
  };
}

type ResumeMode = "websocket" | "http" | "auto";

async function resumePhase(
  options: ScenarioOptions,
  params: { events: number; trials: number },
  agent: Agent,
  clientOf: (mode: TransportMode, user: string) => ThreadlineClient,
): Promise<Record<ResumeMode, { summary: LatencySummary; incomplete: number }>> {
  const session = "bench-resume";
  options.progress(`filling ${session} with ${params.events} events`);
  const seqs: number[] = [];
  let epoch = "";
  for (let i = 0; i < params.events; i += 100) {
    const acks = await Promise.all(
      Array.from({ length: Math.min(100, params.events - i) }, (_, k) =>
        agent.publish(session, { type: "note", data: { n: i + k, pad: "x".repeat(64) } }),
      ),
    );
    for (const ack of acks) {
      seqs.push(ack.seq);
      epoch = ack.epoch;
    }
  }
  seqs.sort((a, b) => a - b);
  const positions = randomPositions(seqs, params.trials + WARMUP, SEED);
  const modes: ResumeMode[] = ["websocket", "http", "auto"];
  const times: Record<ResumeMode, number[]> = { websocket: [], http: [], auto: [] };
  const incomplete: Record<ResumeMode, number> = { websocket: 0, http: 0, auto: 0 };
  options.progress(`${params.trials} resumes per transport (+${WARMUP} warm-up), interleaved`);
  for (const [trial, position] of positions.entries()) {
    for (const mode of modes) {
      const client = clientOf(mode, `bench-resume-${mode}`);
      let count = 0;
      const started = performance.now();
      const handle = await client.attach(session, { from: { epoch, seq: position.seq } });
      handle.onEvent(() => count++);
      await handle.whenSynced();
      const elapsed = performance.now() - started;
      await client.close();
      if (trial < WARMUP) continue;
      times[mode].push(elapsed);
      if (count !== seqs.length - position.index) incomplete[mode]++;
    }
  }
  return {
    websocket: { summary: summarize(times.websocket), incomplete: incomplete.websocket },
    http: { summary: summarize(times.http), incomplete: incomplete.http },
    auto: { summary: summarize(times.auto), incomplete: incomplete.auto },
  };
}

function report(
  params: Record<string, number>,
  live: LivePhase,
  resume: Record<ResumeMode, { summary: LatencySummary; incomplete: number }>,
  load: { before: number; after: number },
  quick: boolean,
): ScenarioResult {
  const ws = live.summary.websocket;
  const http = live.summary.http;
  const json = {
    scenario: "transport",
    liveWebSocketP50Ms: round(ws.p50),
    liveWebSocketP99Ms: round(ws.p99),
    liveHttpP50Ms: round(http.p50),
    liveHttpP99Ms: round(http.p99),
    liveRatioP99: round(http.p99 / ws.p99),
    liveLost: live.lost,
    liveDuplicated: live.duplicated,
    liveStored: live.stored,
    resumeWebSocketP50Ms: round(resume.websocket.summary.p50),
    resumeWebSocketP99Ms: round(resume.websocket.summary.p99),
    resumeHttpP50Ms: round(resume.http.summary.p50),
    resumeHttpP99Ms: round(resume.http.summary.p99),
    resumeAutoRefusedP50Ms: round(resume.auto.summary.p50),
    resumeAutoRefusedP99Ms: round(resume.auto.summary.p99),
    resumeRatioP50: round(resume.http.summary.p50 / resume.websocket.summary.p50),
    resumeIncomplete: {
      websocket: resume.websocket.incomplete,
      http: resume.http.incomplete,
      auto: resume.auto.incomplete,
    },
    processes: live.usage.map((u) => ({ name: u.name, cpuPercent: round(u.cpuPercent), maxRssMb: round(u.maxRssMb) })),
    load: { before: round(load.before), after: round(load.after) },
    params: { ...params, quick },
  };
  const row = (label: string, x: LatencySummary, extra: Cell[], vs?: LatencySummary): Cell[] => [
    label,
    x.count,
    round(x.p50),
    round(x.p90),
    round(x.p99),
    round(x.max),
    vs ? `${round(x.p50 / vs.p50)} / ${round(x.p99 / vs.p99)}` : "–",
    ...extra,
  ];
  return {
    json,
    tables: [
      {
        title: `transport: live delivery, agent publish → client onEvent (ms), ${params.sessions} sessions × ${params.rate}/s, both transports attached at once`,
        columns: ["transport", "n", "p50", "p90", "p99", "max", "÷ websocket p50 / p99", "lost", "dup"],
        rows: [
          row("websocket", ws, [live.lost.websocket, live.duplicated.websocket]),
          row("http (SSE)", http, [live.lost.http, live.duplicated.http], ws),
        ],
        notes: [
          `stored events: ${live.stored} (each should arrive once per transport)`,
          ...live.usage.map(
            (u) => `${u.name}: CPU ${round(u.cpuPercent)} % of a core, max RSS ${round(u.maxRssMb)} MB`,
          ),
          `load average (1 min): ${json.load.before} before, ${json.load.after} after`,
        ],
      },
      {
        title: `transport: resume from a random position of a ${params.events}-event session until synced (ms), new client each`,
        columns: ["transport", "n", "p50", "p90", "p99", "max", "÷ websocket p50 / p99", "incomplete"],
        rows: [
          row("websocket", resume.websocket.summary, [resume.websocket.incomplete]),
          row("http (catch-up GET + SSE)", resume.http.summary, [resume.http.incomplete], resume.websocket.summary),
          row("auto, upgrade refused → http", resume.auto.summary, [resume.auto.incomplete], resume.websocket.summary),
        ],
        notes: ["incomplete: resumes whose events were not exactly the ones after the position (target 0)"],
      },
    ],
  };
}

/** A local server that answers every WebSocket upgrade 403, and a `ws` constructor that always dials it. */
async function upgradeRefuser() {
  const server = createServer((_, res) => res.writeHead(404).end());
  server.on("upgrade", (_, socket) => socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`;
  class Refused extends WebSocket {
    constructor(_: string, protocols?: string | string[]) {
      super(url, protocols);
    }
  }
  return {
    WebSocket: Refused,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
