import { durableStreamsSystem } from "./peer-durable-streams.ts";
import { type PeerRun, type PeersParams, reportPeers } from "./peer-report.ts";
import { plainSseSystem, resumableStreamSystem } from "./peer-sse-systems.ts";
import type { PeerSystem, RunningPeer } from "./peer-system.ts";
import { threadlineSystem } from "./peer-threadline.ts";
import { runLiveWorkload, runMemoryWorkload, runResumeWorkload } from "./peer-workloads.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";

/**
 * Threadline against the peers a user would pick instead, in one run, on
 * the same three workloads (see README.md, `peers`):
 *
 * - Threadline: gateway + nats-server (JetStream file storage), WebSocket readers;
 * - `resumable-stream` on a real Redis (redis-server started by the bench);
 * - the Durable Streams reference server, file store and memory store;
 * - plain SSE without storage (the floor; not a durable peer).
 *
 * One system at a time, each on freshly started processes that are stopped
 * before the next starts: (c) memory first, on processes that have served
 * nothing yet, then (a) resume, then (b) live. A workload that fails is
 * reported as failed and the run goes on; the resume check (every event
 * exactly once, in order, for every system) fails the run.
 */
export const peers: Scenario = {
  name: "peers",
  description:
    "Threadline vs resumable-stream (Redis), Durable Streams (file, memory) and plain SSE: resume from random " +
    "offsets, live write→read latency, RSS per idle reader",
  flags: {
    events: "events in the resume stream (default 10000)",
    resumes: "measured resumes per system (default 300; quick 60)",
    noise: "other sessions' events interleaved per 100 in Threadline's stream (default 0)",
    streams: "live streams (default 200)",
    rate: "live events per second per stream (default 20)",
    duration: "seconds of live writing per system (default 20; quick 8)",
    "idle-readers": "idle readers for the memory workload, 2 per stream (default 2000)",
    settle: "ms held still before each RSS reading (default 2000; quick 1000)",
  },
  run: runPeers,
};

/**
 * The systems, in the order they run. `PEERS_ONLY` (comma-separated name
 * prefixes, e.g. `threadline,durable-streams (file)`) runs some of them, to
 * investigate one; the ratios then compare with those only.
 */
function systems(params: PeersParams): PeerSystem[] {
  const all = [
    threadlineSystem({ noise: params.noise }),
    resumableStreamSystem(),
    durableStreamsSystem("file"),
    durableStreamsSystem("memory"),
    plainSseSystem(),
  ];
  const only = process.env.PEERS_ONLY?.split(",").map((s) => s.trim());
  return only ? all.filter((s) => only.some((prefix) => prefix && s.name.startsWith(prefix))) : all;
}

async function runPeers(options: ScenarioOptions): Promise<ScenarioResult> {
  const o = options.overrides;
  const params: PeersParams = {
    events: o.events ?? 10_000,
    resumes: o.resumes ?? (options.quick ? 60 : 300),
    noise: o.noise ?? 0,
    streams: o.streams ?? 200,
    readersPerStream: 2,
    rate: o.rate ?? 20,
    durationS: o.duration ?? (options.quick ? 8 : 20),
    idleReaders: o["idle-readers"] ?? 2000,
    settleMs: o.settle ?? (options.quick ? 1000 : 2000),
    quick: options.quick,
  };
  const runs: PeerRun[] = [];
  for (const system of systems(params)) runs.push(await runSystem(system, params, options));
  return reportPeers(params, runs);
}

async function runSystem(system: PeerSystem, params: PeersParams, options: ScenarioOptions): Promise<PeerRun> {
  const progress = (line: string) => options.progress(`${system.name}: ${line}`);
  const run: PeerRun = { system, description: "", errors: {} };
  let peer: RunningPeer;
  try {
    progress("starting");
    peer = await system.start();
  } catch (error) {
    run.errors.start = message(error);
    progress(`failed to start: ${run.errors.start}`);
    return run;
  }
  run.description = peer.description;
  const attempt = async <K extends "memory" | "resume" | "live">(
    workload: K,
    fn: () => Promise<NonNullable<PeerRun[K]>>,
  ) => {
    try {
      run[workload] = await fn();
    } catch (error) {
      run.errors[workload] = message(error);
      progress(`${workload} failed: ${run.errors[workload]}`);
    }
  };
  try {
    await attempt("memory", () =>
      runMemoryWorkload(
        peer,
        { readers: params.idleReaders, readersPerStream: params.readersPerStream, settleMs: params.settleMs },
        progress,
      ),
    );
    progress(`resume: filling ${params.events} events, then ${params.resumes} resumes`);
    await attempt("resume", () => runResumeWorkload(peer, params));
    await attempt("live", () => runLiveWorkload(peer, params, progress));
  } finally {
    progress("stopping");
    await peer.stop();
  }
  return run;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]!.slice(0, 300) : String(error);
}
