import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { connectAgent } from "@threadline/agent";
import { DEFAULT_STREAM_NAME, DEFAULT_SUBJECT_PREFIX } from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import { addChecks, compareSeqs, NO_ERRORS, type SeqCheck } from "./exactly-once.ts";
import { GatewaySocket } from "./gateway-socket.ts";
import { resumeEventData } from "./peer-events.ts";
import { ProcessSampler, type ProcessUsage } from "./process-sampler.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { LatencyRecorder, type LatencySummary, round, wallClockMs } from "./stats.ts";
import { type Table, verdict } from "./table.ts";

export const SESSION = "bench-resume";
/**
 * Other sessions whose events are interleaved with the session's in the
 * stream (`--noise` events per 100 session events), as in production where
 * one stream holds every session: the session's seqs are then sparse and a
 * history read must skip the other sessions' messages.
 */
const NOISE_SESSIONS = 50;
/** Default interleaving of a full run (noise events per 100 session events). */
const DEFAULT_NOISE = 25;
/** Publishes in flight while filling the stream. */
const FILL_WINDOW = 512;
/** Unmeasured reads per system before measuring (JIT and connection-path warm-up on both sides). */
export const WARMUP = 5;
/** Seed of the position generator: both systems read from the same positions, run after run. */
export const SEED = 0x7e11ad;

interface ResumeParams {
  events: number;
  reconnects: number;
  /** Events of other sessions interleaved per 100 events of the session. */
  noise: number;
  quick: boolean;
}

/** One system's reads: total time per resume, and its two parts. */
export interface ReadPhase {
  total: LatencySummary;
  /** Threadline: socket open + hello → welcome. Direct: NATS connect. */
  connect: LatencySummary;
  /** Threadline: attach → synced. Direct: ordered consumer created → pending 0. */
  read: LatencySummary;
  check: SeqCheck;
  eventsRead: number;
  /** Events per second over the measured reads. */
  throughput: number;
  usage: ProcessUsage[];
}

export const resume: Scenario = {
  name: "resume",
  description:
    "reconnects to a 10,000-event session from random positions through the gateway, timed until synced; " +
    "peer: the same reads directly against JetStream with a nats.js ordered consumer",
  flags: {
    events: "events in the session (default 10000)",
    reconnects: "measured reconnects per system (default 300; quick 60)",
    noise: `other sessions' events interleaved per 100 session events (default ${DEFAULT_NOISE}; quick 0)`,
  },
  run: runResume,
};

async function runResume(options: ScenarioOptions): Promise<ScenarioResult> {
  const params: ResumeParams = {
    events: options.overrides.events ?? 10_000,
    reconnects: options.overrides.reconnects ?? (options.quick ? 60 : 300),
    // Quick runs default to no interleaving: on nats-server 2.9.10 interleaved history reads take
    // up to seconds (see README), which does not fit the 30 s budget.
    noise: options.overrides.noise ?? (options.quick ? 0 : DEFAULT_NOISE),
    quick: options.quick,
  };
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server and gateway");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    const gateway = await spawnGateway(nats.url, { THREADLINE_GATEWAY_ID: "bench-gateway" });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());

    options.progress(
      `filling ${SESSION} with ${params.events} events (+${params.noise}% interleaved from other sessions)`,
    );
    const { seqs, ids, epoch } = await fillSession(nats.url, params.events, params.noise);

    const positions = randomPositions(seqs, params.reconnects + WARMUP, SEED);
    const expectedAfter = (index: number) => seqs.slice(index);

    const token = await mintToken({ sub: "bench-user", grants: [{ session: SESSION, can: ["read"] }] });
    options.progress(`threadline: ${params.reconnects} reconnects (+${WARMUP} warm-up) through the gateway`);
    const threadline = await measureResumes(
      positions,
      [
        ["gateway", gateway.pid],
        ["nats-server", nats.pid],
        ["bench (client)", process.pid],
      ],
      (seq) => resumeThroughGateway(gateway.url, token, SESSION, { epoch, seq, id: ids.get(seq) }),
      expectedAfter,
    );

    options.progress(`direct: ${params.reconnects} ordered-consumer reads (+${WARMUP} warm-up) against JetStream`);
    const filter = `${DEFAULT_SUBJECT_PREFIX}.${SESSION}.>`;
    const direct = await measureResumes(
      positions,
      [
        ["nats-server", nats.pid],
        ["bench (client)", process.pid],
      ],
      async (seq) => {
        const received: number[] = [];
        const t0 = wallClockMs();
        const nc = await connect({ servers: nats.url });
        const t1 = wallClockMs();
        const consumer = await jetstream(nc).consumers.get(DEFAULT_STREAM_NAME, {
          filter_subjects: filter,
          opt_start_seq: seq + 1,
        });
        const pending = (await consumer.info(true)).num_pending;
        if (pending > 0) {
          const messages = await consumer.consume();
          for await (const m of messages) {
            received.push(m.seq);
            if (m.info.pending === 0) break;
          }
          await messages.close();
        }
        const t2 = wallClockMs();
        await consumer.delete().catch(() => {});
        await nc.close();
        return { connectMs: t1 - t0, readMs: t2 - t1, received };
      },
      expectedAfter,
    );

    return report(params, threadline, direct, seqs.length);
  } finally {
    await cleanup.run();
  }
}

/** One resume read: its two timed parts and what it received, in arrival order. */
export interface ResumeRead {
  connectMs: number;
  readMs: number;
  received: number[];
}

/**
 * One reconnect through the gateway as a conforming client resumes: open a
 * socket, `hello`, `attach` from the position naming the event it applied
 * (the gateway checks it, PROTOCOL.md §8.1; seq 0 has no id), timed until
 * `synced`. `received` holds the seqs of the replayed event frames.
 */
export async function resumeThroughGateway(
  gatewayUrl: string,
  token: string,
  session: string,
  position: { epoch: string; seq: number; id: string | undefined },
): Promise<ResumeRead> {
  const received: number[] = [];
  const t0 = wallClockMs();
  const socket = await GatewaySocket.connect(gatewayUrl, token, (frame) => received.push(frame.seq));
  const t1 = wallClockMs();
  const { epoch, seq, id } = position;
  await socket.attach(session, seq === 0 ? { epoch, seq } : { epoch, seq, id });
  const t2 = wallClockMs();
  if (socket.unexpected > 0) throw new Error(`unexpected frame: ${JSON.stringify(socket.lastUnexpected)}`);
  await socket.close();
  return { connectMs: t1 - t0, readMs: t2 - t1, received };
}

/**
 * Publishes `events` events into SESSION through `@threadline/agent`, with
 * `noise` events per 100 of other sessions interleaved; returns the
 * session's seqs (sorted), their event ids and the epoch.
 */
export async function fillSession(
  natsUrl: string,
  events: number,
  noise: number,
): Promise<{ seqs: number[]; ids: Map<number, string>; epoch: string }> {
  const agent = await connectAgent({ servers: natsUrl, id: "bench-agent" });
  try {
    const seqs: number[] = [];
    const ids = new Map<number, string>();
    let epoch = "";
    const inFlight = new Set<Promise<void>>();
    const publish = (session: string, n: number) => {
      const p = agent
        .publish(session, { type: "message.append", data: resumeEventData(n) })
        .then((r) => {
          if (session === SESSION) {
            seqs.push(r.seq);
            ids.set(r.seq, r.id);
          }
          epoch = r.epoch;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      return p;
    };
    let owed = 0;
    for (let n = 0; n < events; n++) {
      if (inFlight.size >= FILL_WINDOW) await Promise.race(inFlight);
      void publish(SESSION, n);
      for (owed += noise / 100; owed >= 1; owed--) void publish(`${SESSION}-other-${n % NOISE_SESSIONS}`, n);
    }
    await Promise.all(inFlight);
    seqs.sort((a, b) => a - b);
    return { seqs, ids, epoch };
  } finally {
    await agent.close();
  }
}

/**
 * `count` positions, each given as the index of the first event expected
 * after it (0 = from seq 0, the whole session; seqs.length = from the last
 * event, nothing to read), uniformly distributed, from a seeded generator.
 */
export function randomPositions(seqs: number[], count: number, seed: number): { index: number; seq: number }[] {
  let state = seed >>> 0;
  // mulberry32: a tiny, well-mixed 32-bit PRNG; reproducible positions across runs and systems.
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => {
    const index = Math.floor(next() * (seqs.length + 1));
    return { index, seq: index === 0 ? 0 : seqs[index - 1]! };
  });
}

/**
 * Runs the reads one at a time: WARMUP unmeasured, then the rest timed and
 * each checked against `expectedAfter(index)` (exactly once, in order),
 * with CPU and RSS of `processes` sampled over the measured reads.
 */
export async function measureResumes(
  positions: { index: number; seq: number }[],
  processes: [string, number | undefined][],
  read: (seq: number) => Promise<ResumeRead>,
  expectedAfter: (index: number) => number[],
): Promise<ReadPhase> {
  const total = new LatencyRecorder();
  const connectTime = new LatencyRecorder();
  const readTime = new LatencyRecorder();
  let check = NO_ERRORS;
  let eventsRead = 0;
  let measuredMs = 0;
  for (const position of positions.slice(0, WARMUP)) await read(position.seq);
  const sampler = new ProcessSampler();
  for (const [name, pid] of processes) sampler.watch(name, pid);
  sampler.start();
  for (const position of positions.slice(WARMUP)) {
    const r = await read(position.seq);
    total.record(r.connectMs + r.readMs);
    connectTime.record(r.connectMs);
    readTime.record(r.readMs);
    measuredMs += r.connectMs + r.readMs;
    eventsRead += r.received.length;
    check = addChecks(check, compareSeqs(expectedAfter(position.index), r.received));
  }
  return {
    total: total.summary(),
    connect: connectTime.summary(),
    read: readTime.summary(),
    check,
    eventsRead,
    throughput: eventsRead / (measuredMs / 1000),
    usage: sampler.stop(),
  };
}

function report(params: ResumeParams, threadline: ReadPhase, direct: ReadPhase, sessionEvents: number): ScenarioResult {
  const ratioP99 = round(threadline.total.p99 / direct.total.p99);
  const json = {
    scenario: "resume",
    params: { events: sessionEvents, reconnects: params.reconnects, noise: params.noise, quick: params.quick },
    threadline: {
      p50Ms: round(threadline.total.p50),
      p99Ms: round(threadline.total.p99),
      lost: threadline.check.lost,
      duplicated: threadline.check.duplicated,
    },
    direct: { p50Ms: round(direct.total.p50), p99Ms: round(direct.total.p99) },
    ratioP99,
  };
  const row = (name: string, r: ReadPhase): (string | number)[] => [
    name,
    params.reconnects,
    Math.round(r.eventsRead / params.reconnects),
    r.check.lost,
    r.check.duplicated,
    r.check.unexpected + r.check.outOfOrder,
    round(r.total.p50),
    round(r.total.p90),
    round(r.total.p99),
    round(r.total.max),
    round(r.connect.p50),
    round(r.connect.p99),
    round(r.read.p50),
    round(r.read.p99),
    Math.round(r.throughput),
  ];
  const latencyTable: Table = {
    title:
      `resume — a session of ${sessionEvents} events, ${params.noise} events of other sessions interleaved per 100, ` +
      `${params.reconnects} reconnects per system from seeded uniform random positions, one at a time`,
    columns: [
      "system",
      "reads",
      "events/read",
      "lost",
      "dup",
      "other",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "max ms",
      "conn p50",
      "conn p99",
      "read p50",
      "read p99",
      "events/s",
    ],
    rows: [
      row("threadline (ws: open+hello+attach→synced)", threadline),
      row("direct (nats connect + ordered consumer)", direct),
    ],
    notes: [
      `ratio p99 threadline / direct: ${ratioP99}`,
      "conn = socket open + hello→welcome (threadline) / NATS connect (direct); " +
        "read = attach→synced (threadline) / ordered consumer create→pending 0 (direct)",
    ],
  };
  const usageTable: Table = {
    title: "server processes during each system's measured reads (cpu: % of one core; the machine has 2)",
    columns: ["phase", "process", "cpu %", "max rss MB"],
    rows: [
      ...threadline.usage.map((u) => ["threadline", u.name, round(u.cpuPercent), round(u.maxRssMb)]),
      ...direct.usage.map((u) => ["direct", u.name, round(u.cpuPercent), round(u.maxRssMb)]),
    ],
  };
  const targets: Table = {
    title: "targets",
    columns: ["target", "measured", "verdict"],
    rows: [
      ["p99 ≤ 50 ms", round(threadline.total.p99), verdict(threadline.total.p99 <= 50)],
      ["lost = 0", threadline.check.lost, verdict(threadline.check.lost === 0)],
      ["duplicated = 0", threadline.check.duplicated, verdict(threadline.check.duplicated === 0)],
    ],
  };
  return { json, tables: [latencyTable, usageTable, targets] };
}
