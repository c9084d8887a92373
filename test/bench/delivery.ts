import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { decodeMsgpack } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import { ConsumerPoller } from "./consumer-poller.ts";
import { addChecks, compareSeqs, NO_ERRORS, type SeqCheck } from "./exactly-once.ts";
import { type BenchEvent, GatewaySocket } from "./gateway-socket.ts";
import { mapLimit } from "./pool.ts";
import { ProcessSampler, type ProcessUsage } from "./process-sampler.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { SseStream } from "./sse-stream.ts";
import { LatencyRecorder, type LatencySummary, round } from "./stats.ts";
import type { Table } from "./table.ts";
import { verdict } from "./table.ts";
import { startWorker, type WorkerProcess } from "./worker-process.ts";

const SOCKETS_PER_SESSION = 2;
/** After the last publish, how long receivers get to receive everything that was stored. */
const DRAIN_TIMEOUT_MS = 10_000;
/** Sockets / streams opened concurrently during setup. */
const CONNECT_CONCURRENCY = 64;

interface DeliveryParams {
  sessions: number;
  socketsPerSession: number;
  ratePerSession: number;
  durationS: number;
  quick: boolean;
}

/** What one system (Threadline or the SSE baseline) did in its phase. */
interface PhaseResult {
  latency: LatencySummary;
  delivered: number;
  expected: number;
  check: SeqCheck;
  /** Delivered events per second over the publishing window plus drain. */
  throughput: number;
  usage: ProcessUsage[];
  /** Sockets/streams that closed during the phase. */
  dropped: number;
  notes: string[];
}

export const delivery: Scenario = {
  name: "delivery",
  description:
    "S sessions × 2 sockets, an agent process publishing at a steady rate per session through NATS + gateway; " +
    "baseline: the same workload over direct SSE from an agent HTTP server",
  flags: {
    sessions: "active sessions (default 1000; quick 100)",
    rate: "events per second per session (default 2)",
    duration: "seconds of publishing per system (default 20; quick 8)",
  },
  run: runDelivery,
};

async function runDelivery(options: ScenarioOptions): Promise<ScenarioResult> {
  const params: DeliveryParams = {
    sessions: options.overrides.sessions ?? (options.quick ? 100 : 1000),
    socketsPerSession: SOCKETS_PER_SESSION,
    ratePerSession: options.overrides.rate ?? 2,
    durationS: options.overrides.duration ?? (options.quick ? 8 : 20),
    quick: options.quick,
  };
  const sessions = Array.from({ length: params.sessions }, (_, i) => `bench-delivery-${i}`);
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    options.progress("starting gateway, agent publisher and SSE server processes");
    const [gateway, publisher, sseServer] = await Promise.all([
      spawnGateway(nats.url, { THREADLINE_GATEWAY_ID: "bench-gateway" }),
      startWorker(fileURLToPath(new URL("./agent-publisher.ts", import.meta.url)), { NATS_URL: nats.url }),
      startWorker(fileURLToPath(new URL("./sse-agent-server.ts", import.meta.url))),
    ]);
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());
    cleanup.defer("agent publisher", () => publisher.stop());
    cleanup.defer("sse server", () => sseServer.stop());

    // ---- Threadline: agent → NATS JetStream → gateway → WebSocket ----------------------------
    // One user per session, holding both of its sockets (two tabs), as in production: gateways limit sockets per user.
    const tokens = await Promise.all(
      sessions.map((session, i) => mintToken({ sub: `bench-user-${i}`, grants: [{ session, can: ["read"] }] })),
    );
    const latency = new LatencyRecorder();
    let received = 0;
    const receivers = sessions.flatMap((_, sessionIndex) =>
      Array.from({ length: SOCKETS_PER_SESSION }, () => ({ sessionIndex, seqs: [] as number[] })),
    );
    options.progress(`opening ${receivers.length} WebSockets and attaching from "now"`);
    const sockets = await mapLimit(receivers, CONNECT_CONCURRENCY, async (receiver) => {
      const token = tokens[receiver.sessionIndex]!;
      const socket = await GatewaySocket.connect(gateway.url, token, (frame: BenchEvent, at: number) => {
        received++;
        receiver.seqs.push(frame.seq);
        const t = (frame.event.data as { t?: number } | undefined)?.t;
        if (typeof t === "number") latency.record(at - t);
      });
      await socket.attach(sessions[receiver.sessionIndex]!, "now");
      return socket;
    });
    cleanup.defer("websockets", () => Promise.all(sockets.map((s) => s.close())));

    // Reference point: the same events as a plain NATS subscriber of the stream's republish sees
    // them (agent → NATS → bench, no gateway). threadline − tap = what the gateway hop adds.
    const tapLatency = new LatencyRecorder();
    let tapped = 0;
    const tap = await connect({ servers: nats.url, name: "bench-republish-tap" });
    cleanup.defer("republish tap", () => tap.close());
    tap.subscribe("live.tl.*.out.>", {
      callback: (err, msg) => {
        if (err) return;
        const at = performance.timeOrigin + performance.now();
        const t = (decodeMsgpack(msg.data) as { data?: { t?: number } }).data?.t;
        tapped++;
        if (typeof t === "number") tapLatency.record(at - t);
      },
    });
    await tap.flush();

    const poller = new ConsumerPoller(nats.monitorUrl);
    const loadBefore = loadavg()[0]!;
    const sampler = new ProcessSampler();
    sampler.watch("gateway", gateway.pid);
    sampler.watch("nats-server", nats.pid);
    sampler.watch("agent (publisher)", publisher.pid);
    sampler.watch("bench (2S client sockets)", process.pid);
    poller.start();
    sampler.start();
    options.progress(
      `publishing ${params.ratePerSession} ev/s into each of ${params.sessions} sessions for ${params.durationS} s`,
    );
    const started = performance.now();
    publisher.send({
      type: "start",
      sessions,
      ratePerSession: params.ratePerSession,
      durationMs: params.durationS * 1000,
    });
    const done = await publisher.next("done", params.durationS * 1000 + 60_000);
    const stored = done.stored as number[][];
    const expected = stored.reduce((n, seqs) => n + seqs.length, 0) * SOCKETS_PER_SESSION;
    const storedTotal = expected / SOCKETS_PER_SESSION;
    await waitFor(() => received >= expected && tapped >= storedTotal, { timeoutMs: DRAIN_TIMEOUT_MS }).catch(() => {});
    const elapsedS = (performance.now() - started) / 1000;
    const usage = sampler.stop();
    const consumers = await poller.stop();
    let check = NO_ERRORS;
    for (const r of receivers) check = addChecks(check, compareSeqs(stored[r.sessionIndex]!, r.seqs));
    const unexpectedFrames = sockets.reduce((n, s) => n + s.unexpected, 0);
    const tapSummary = tapLatency.summary();
    const threadline: PhaseResult = {
      latency: latency.summary(),
      delivered: received,
      expected,
      check,
      throughput: received / elapsedS,
      usage,
      dropped: sockets.filter((s) => !s.isOpen).length,
      notes: [
        `1-min load average before / after: ${round(loadBefore)} / ${round(loadavg()[0]!)} (2 cores)`,
        `agent: ${stored.reduce((n, s) => n + s.length, 0)} events stored, ${done.failed} failed, ` +
          `${done.skipped} skipped (in-flight cap), ${done.unsettled} unacknowledged; ` +
          `publish→ack p50 ${done.storeP50Ms} ms, p99 ${done.storeP99Ms} ms, max ${done.storeMaxMs} ms; ` +
          `generator lag max ${round((done.schedule as { maxLagMs: number }).maxLagMs)} ms`,
        ...(Object.keys(done.errors as object).length > 0 ? [`agent errors: ${JSON.stringify(done.errors)}`] : []),
        `republish tap (agent→NATS→plain subscriber in the bench, no gateway): ${tapped}/${storedTotal} events, ` +
          `p50 ${round(tapSummary.p50)} ms, p90 ${round(tapSummary.p90)} ms, p99 ${round(tapSummary.p99)} ms, ` +
          `max ${round(tapSummary.max)} ms`,
        `JetStream consumers (max seen, /jsz polled every 1 s, ${poller.samples} samples): ${consumers}`,
        ...(unexpectedFrames > 0
          ? [
              `unexpected frames on the sockets: ${unexpectedFrames}, e.g. ` +
                JSON.stringify(sockets.find((s) => s.lastUnexpected)?.lastUnexpected),
            ]
          : []),
      ],
    };
    options.progress(`threadline: ${received}/${expected} delivered; closing sockets`);
    await Promise.all(sockets.map((s) => s.close()));

    // ---- Baseline: the agent's own HTTP server, one SSE response per socket -------------------
    const sse = await runSseBaseline(sseServer, sessions, params, options);

    return report(params, threadline, sse, consumers, gateway.log());
  } finally {
    await cleanup.run();
  }
}

export async function runSseBaseline(
  server: WorkerProcess,
  sessions: string[],
  params: DeliveryParams,
  options: ScenarioOptions,
): Promise<PhaseResult> {
  const port = server.ready.port as number;
  const latency = new LatencyRecorder();
  let received = 0;
  const receivers = sessions.flatMap((_, sessionIndex) =>
    Array.from({ length: SOCKETS_PER_SESSION }, () => ({ sessionIndex, ns: [] as number[] })),
  );
  options.progress(`opening ${receivers.length} SSE streams`);
  const streams = await mapLimit(receivers, CONNECT_CONCURRENCY, (receiver) =>
    SseStream.open(`http://127.0.0.1:${port}/sse/${sessions[receiver.sessionIndex]}`, (_id, data, at) => {
      received++;
      const envelope = JSON.parse(data) as { data: { t: number; n: number } };
      receiver.ns.push(envelope.data.n);
      latency.record(at - envelope.data.t);
    }),
  );
  try {
    const loadBefore = loadavg()[0]!;
    const sampler = new ProcessSampler();
    sampler.watch("sse server (agent)", server.pid);
    sampler.watch("bench (2S client streams)", process.pid);
    sampler.start();
    options.progress(`SSE: ${params.ratePerSession} ev/s per session for ${params.durationS} s`);
    const started = performance.now();
    server.send({
      type: "start",
      sessions,
      ratePerSession: params.ratePerSession,
      durationMs: params.durationS * 1000,
    });
    const done = await server.next("done", params.durationS * 1000 + 60_000);
    const generated = done.generated as number[];
    const expected = generated.reduce((n, g) => n + g, 0) * SOCKETS_PER_SESSION;
    await waitFor(() => received >= expected, { timeoutMs: DRAIN_TIMEOUT_MS }).catch(() => {});
    const elapsedS = (performance.now() - started) / 1000;
    const usage = sampler.stop();
    let check = NO_ERRORS;
    for (const r of receivers) {
      const want = Array.from({ length: generated[r.sessionIndex]! }, (_, n) => n);
      check = addChecks(check, compareSeqs(want, r.ns));
    }
    options.progress(`sse: ${received}/${expected} delivered`);
    return {
      latency: latency.summary(),
      delivered: received,
      expected,
      check,
      throughput: received / elapsedS,
      usage,
      dropped: streams.filter((s) => s.closed).length,
      notes: [
        `1-min load average before / after: ${round(loadBefore)} / ${round(loadavg()[0]!)} (2 cores)`,
        `sse server: ${done.connections} responses open at start; generator lag max ` +
          `${round((done.schedule as { maxLagMs: number }).maxLagMs)} ms`,
      ],
    };
  } finally {
    for (const s of streams) s.close();
  }
}

function report(
  params: DeliveryParams,
  threadline: PhaseResult,
  sse: PhaseResult,
  consumers: number,
  gatewayLog: string,
): ScenarioResult {
  const gatewayUsage = threadline.usage.find((u) => u.name === "gateway");
  const ratioP99 = round(threadline.latency.p99 / sse.latency.p99);
  const json = {
    scenario: "delivery",
    params: {
      sessions: params.sessions,
      socketsPerSession: params.socketsPerSession,
      ratePerSession: params.ratePerSession,
      durationS: params.durationS,
      quick: params.quick,
    },
    threadline: {
      p50Ms: round(threadline.latency.p50),
      p99Ms: round(threadline.latency.p99),
      maxMs: round(threadline.latency.max),
      delivered: threadline.delivered,
      lost: threadline.check.lost,
      duplicated: threadline.check.duplicated,
      consumers,
      gatewayRssMb: round(gatewayUsage?.maxRssMb ?? Number.NaN),
    },
    sse: {
      p50Ms: round(sse.latency.p50),
      p99Ms: round(sse.latency.p99),
      maxMs: round(sse.latency.max),
      delivered: sse.delivered,
    },
    ratioP99,
  };
  const row = (name: string, r: PhaseResult) => [
    name,
    r.expected,
    r.delivered,
    r.check.lost,
    r.check.duplicated,
    r.check.outOfOrder,
    round(r.latency.p50),
    round(r.latency.p90),
    round(r.latency.p99),
    round(r.latency.max),
    Math.round(r.throughput),
    r.dropped,
  ];
  const title =
    `delivery — ${params.sessions} sessions × ${params.socketsPerSession} sockets, ` +
    `${params.ratePerSession} ev/s per session (${params.sessions * params.ratePerSession} ev/s published, ` +
    `${params.sessions * params.ratePerSession * params.socketsPerSession} ev/s delivered), ${params.durationS} s each`;
  const latencyTable: Table = {
    title,
    columns: [
      "system",
      "expected",
      "delivered",
      "lost",
      "dup",
      "out-of-order",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "max ms",
      "events/s",
      "dropped conns",
    ],
    rows: [row("threadline (agent→NATS→gateway→ws)", threadline), row("sse baseline (agent→http)", sse)],
    notes: [
      `ratio p99 threadline / sse: ${ratioP99}`,
      ...threadline.notes.map((n) => `threadline: ${n}`),
      ...sse.notes.map((n) => `baseline: ${n}`),
    ],
  };
  const usageTable: Table = {
    title: "server processes during each system's publishing window (cpu: % of one core; the machine has 2)",
    columns: ["process", "pid", "cpu %", "max rss MB", "end rss MB"],
    rows: [...threadline.usage, ...sse.usage].map((u) => [
      u.name.replace("2S", String(params.sessions * params.socketsPerSession)),
      u.pid,
      round(u.cpuPercent),
      round(u.maxRssMb),
      round(u.endRssMb),
    ]),
  };
  const warnings = gatewayLog
    .split("\n")
    .filter((l) => /"level":(40|50|60)/.test(l))
    .slice(-5);
  const targets: Table = {
    title: "targets",
    columns: ["target", "measured", "verdict"],
    rows: [
      ["lost = 0", threadline.check.lost, verdict(threadline.check.lost === 0 && threadline.expected > 0)],
      ["duplicated = 0", threadline.check.duplicated, verdict(threadline.check.duplicated === 0)],
      ["ratioP99 ≤ 1.5", ratioP99, verdict(ratioP99 <= 1.5)],
      [`consumers ≤ active sessions (${params.sessions})`, consumers, verdict(consumers <= params.sessions)],
    ],
    notes: warnings.length > 0 ? ["gateway warnings/errors (last 5):", ...warnings] : [],
  };
  return { json, tables: [latencyTable, usageTable, targets] };
}
