import type { SeqCheck } from "./exactly-once.ts";
import { type PeerMeasure, type PeerRatio, ratioToBestPeer } from "./peer-ratio.ts";
import type { PeerSystem } from "./peer-system.ts";
import type { LiveResult, MemoryResult } from "./peer-workloads.ts";
import type { ReadPhase } from "./resume.ts";
import type { ScenarioResult } from "./scenario.ts";
import { round } from "./stats.ts";
import { type Table, verdict } from "./table.ts";

export interface PeersParams {
  events: number;
  resumes: number;
  noise: number;
  streams: number;
  readersPerStream: number;
  rate: number;
  durationS: number;
  idleReaders: number;
  settleMs: number;
  quick: boolean;
}

/** One system's results; a workload that failed has no result and an entry in `errors`. */
export interface PeerRun {
  system: PeerSystem;
  description: string;
  resume?: ReadPhase;
  live?: LiveResult;
  memory?: MemoryResult;
  errors: Partial<Record<"start" | "resume" | "live" | "memory", string>>;
}

/** Exactly once and in order: nothing lost, duplicated, unexpected or out of order. */
function clean(check: SeqCheck): boolean {
  return check.lost === 0 && check.duplicated === 0 && check.unexpected === 0 && check.outOfOrder === 0;
}

function resumeCorrect(run: PeerRun): boolean {
  return run.resume !== undefined && clean(run.resume.check);
}

function liveCorrect(run: PeerRun): boolean {
  const live = run.live;
  return live !== undefined && clean(live.check) && live.dropped === 0 && live.expected > 0 && live.unstored === 0;
}

function memoryCorrect(run: PeerRun): boolean {
  return run.memory !== undefined && run.memory.open === run.memory.readers;
}

function ratioFor(
  runs: PeerRun[],
  value: (run: PeerRun) => number | undefined,
  correct: (run: PeerRun) => boolean,
): SubjectRatio {
  const subjectRun = runs.find((r) => r.system.role === "subject");
  const subject = (subjectRun && value(subjectRun)) ?? Number.NaN;
  const subjectCorrect = subjectRun !== undefined && correct(subjectRun);
  const measures: PeerMeasure[] = runs
    .filter((r) => r.system.role !== "subject")
    .map((r) => ({ name: r.system.name, role: r.system.role, value: value(r) ?? Number.NaN, correct: correct(r) }));
  return { subject, subjectCorrect, ...ratioToBestPeer(subject, measures) };
}

/** A workload's ratio, with Threadline's own value and whether its own run was correct (a ratio only counts then). */
type SubjectRatio = PeerRatio & { subject: number; subjectCorrect: boolean };

/** Tables and the JSON result of the `peers` scenario (ratios: Threadline ÷ the best correct durable peer). */
export function reportPeers(params: PeersParams, runs: PeerRun[]): ScenarioResult {
  const resumeRatio = ratioFor(runs, (r) => r.resume?.total.p99, resumeCorrect);
  const liveRatio = ratioFor(runs, (r) => r.live?.latency.p99, liveCorrect);
  const memoryRatio = ratioFor(runs, (r) => r.memory?.kbPerReader, memoryCorrect);
  const resumeFailures = runs.filter((r) => !resumeCorrect(r)).map((r) => r.system.name);
  // Every delivery comes after its event was stored, so Threadline's live p99 is at least its store hop's p99.
  const storeHopP99 = runs.find((r) => r.system.role === "subject")?.live?.stages?.toStored.p99 ?? Number.NaN;
  const storeHopRatio = liveRatio.bestValue > 0 ? storeHopP99 / liveRatio.bestValue : Number.NaN;
  const json = {
    scenario: "peers",
    params,
    resumeRatioP99: round(resumeRatio.ratio),
    liveRatioP99: round(liveRatio.ratio),
    memoryRatio: round(memoryRatio.ratio),
    liveStoreHopP99Ms: round(storeHopP99),
    liveStoreHopRatioP99: round(storeHopRatio),
    bestPeer: { resume: resumeRatio.best, live: liveRatio.best, memory: memoryRatio.best },
    excludedPeers: { resume: resumeRatio.excluded, live: liveRatio.excluded, memory: memoryRatio.excluded },
    resumeExactlyOnceInOrder: resumeFailures.length === 0,
    threadlineCorrect: {
      resume: resumeRatio.subjectCorrect,
      live: liveRatio.subjectCorrect,
      memory: memoryRatio.subjectCorrect,
    },
    systems: runs.map((r) => systemJson(r)),
  };
  const tables = [
    durabilityTable(runs),
    resumeTable(params, runs),
    liveTable(params, runs),
    memoryTable(params, runs),
    usageTable(runs),
    ratioTable(
      [
        ["resume p99 ms", resumeRatio],
        ["live p99 ms", liveRatio],
        ["KB per idle reader", memoryRatio],
      ],
      Number.isFinite(storeHopRatio)
        ? [
            `live p99 ms: Threadline's write → stored p99 alone is ${round(storeHopP99)} ms, ` +
              `${round(storeHopRatio)} × ${liveRatio.best}'s whole write → read p99; every delivery comes ` +
              "after its event is stored, so the live ratio cannot be below that",
          ]
        : [],
    ),
  ];
  const failures = resumeFailures.map((name) => `${name}: resume reads were not exactly once and in order`);
  return { json, tables, failures };
}

function systemJson(run: PeerRun): Record<string, unknown> {
  const { resume, live, memory } = run;
  return {
    name: run.system.name,
    role: run.system.role,
    durability: run.system.durability,
    description: run.description,
    resume: resume && {
      p50Ms: round(resume.total.p50),
      p99Ms: round(resume.total.p99),
      maxMs: round(resume.total.max),
      eventsPerS: Math.round(resume.throughput),
      eventsRead: resume.eventsRead,
      ...resume.check,
    },
    live: live && {
      p50Ms: round(live.latency.p50),
      p99Ms: round(live.latency.p99),
      maxMs: round(live.latency.max),
      unstored: live.unstored,
      expected: live.expected,
      delivered: live.delivered,
      dropped: live.dropped,
      ...live.check,
      stages: live.stages && {
        toStoredP50Ms: round(live.stages.toStored.p50),
        toStoredP99Ms: round(live.stages.toStored.p99),
        toStoredMaxMs: round(live.stages.toStored.max),
        storedToReaderP50Ms: round(live.stages.storedToReader.p50),
        storedToReaderP99Ms: round(live.stages.storedToReader.p99),
        storedToReaderMaxMs: round(live.stages.storedToReader.max),
        unmatched: live.stages.unmatched,
      },
    },
    memory: memory && {
      readers: memory.readers,
      open: memory.open,
      kbPerReader: round(memory.kbPerReader),
      rssBeforeMb: round(memory.rssBeforeMb),
      rssAfterMb: round(memory.rssAfterMb),
    },
    errors: Object.keys(run.errors).length > 0 ? run.errors : undefined,
  };
}

function durabilityTable(runs: PeerRun[]): Table {
  return {
    title: "systems — how each keeps its events (the ratios compare Threadline with the durable peers only)",
    columns: ["system", "role", "storage", "survives crash", "fsync", "what runs"],
    rows: runs.map((r) => [
      r.system.name,
      r.system.role,
      r.system.durability.storage,
      r.system.durability.survivesProcessCrash ? "yes" : "no",
      r.system.durability.fsync,
      r.description || "–",
    ]),
    notes: runs.flatMap((r) =>
      Object.entries(r.errors).map(([workload, error]) => `${r.system.name}: ${workload} FAILED: ${error}`),
    ),
  };
}

function resumeTable(params: PeersParams, runs: PeerRun[]): Table {
  return {
    title:
      `(a) resume — a stream of ${params.events} events, ${params.resumes} resumes per system from the same seeded ` +
      `random positions, one at a time, each on a fresh connection, timed until caught up`,
    columns: ["system", "events/read", "lost", "dup", "other", "p50 ms", "p90 ms", "p99 ms", "max ms"].concat([
      "conn p50",
      "read p50",
      "read p99",
      "events/s",
    ]),
    rows: runs.map((r) => {
      const x = r.resume;
      if (!x) return [r.system.name, ...Array<undefined>(12)];
      return [
        r.system.name,
        Math.round(x.eventsRead / params.resumes),
        x.check.lost,
        x.check.duplicated,
        x.check.unexpected + x.check.outOfOrder,
        round(x.total.p50),
        round(x.total.p90),
        round(x.total.p99),
        round(x.total.max),
        round(x.connect.p50),
        round(x.read.p50),
        round(x.read.p99),
        Math.round(x.throughput),
      ];
    }),
    notes: [
      "conn: threadline socket open + hello→welcome; SSE/HTTP peers request → first bytes (plain SSE's carry the replay)",
      "read: threadline attach→synced; SSE peers until the last event; durable-streams the catch-up GET's body",
      ...runs
        .filter((r) => r.resume)
        .map((r) => `${r.system.name}: exactly once, in order: ${verdict(resumeCorrect(r))}`),
    ],
  };
}

function liveTable(params: PeersParams, runs: PeerRun[]): Table {
  return {
    title:
      `(b) live — ${params.streams} streams × ${params.readersPerStream} readers, ${params.rate} ev/s per stream ` +
      `(${params.streams * params.rate} writes/s), ${params.durationS} s; latency = writer's send time → decoded at the reader`,
    columns: [
      "system",
      "unstored",
      "expected",
      "delivered",
      "lost",
      "dup",
      "out-of-order",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "max ms",
      "dropped",
    ],
    rows: runs.map((r) => {
      const x = r.live;
      if (!x) return [r.system.name, ...Array<undefined>(11)];
      return [
        r.system.name,
        x.unstored,
        x.expected,
        x.delivered,
        x.check.lost,
        x.check.duplicated,
        x.check.outOfOrder + x.check.unexpected,
        round(x.latency.p50),
        round(x.latency.p90),
        round(x.latency.p99),
        round(x.latency.max),
        x.dropped,
      ];
    }),
    notes: [
      "unstored: events the writer could not store (refused or failed writes; expected = stored × readers)",
      ...runs.flatMap((r) => (r.live?.notes ?? []).map((n) => `${r.system.name}: ${n}`)),
      ...runs.flatMap((r) => {
        const stages = r.live?.stages;
        if (!stages) return [];
        const ms = (x: { p50: number; p99: number; max: number }) =>
          `p50 ${round(x.p50)} / p99 ${round(x.p99)} / max ${round(x.max)} ms`;
        return [
          `${r.system.name}: split at the store (its stored timestamps): write → stored ${ms(stages.toStored)}; ` +
            `stored → reader ${ms(stages.storedToReader)}` +
            (stages.unmatched > 0 ? `; ${stages.unmatched} receipts not split` : ""),
        ];
      }),
    ],
  };
}

function memoryTable(params: PeersParams, runs: PeerRun[]): Table {
  return {
    title:
      `(c) memory — ${params.idleReaders} idle live readers (${params.readersPerStream} per stream), server-side RSS ` +
      `growth per reader (all of a system's server processes), read after ${params.settleMs} ms still`,
    columns: ["system", "readers open", "rss before MB", "rss after MB", "KB/reader", "per process (MB)"],
    rows: runs.map((r) => {
      const x = r.memory;
      if (!x) return [r.system.name, undefined, undefined, undefined, undefined, "–"];
      return [
        r.system.name,
        x.open,
        round(x.rssBeforeMb),
        round(x.rssAfterMb),
        round(x.kbPerReader),
        x.perProcess.map((p) => `${p.name} +${round(p.deltaMb)}`).join(", "),
      ];
    }),
  };
}

function usageTable(runs: PeerRun[]): Table {
  const rows = runs.flatMap((r) =>
    [
      ["resume", r.resume?.usage],
      ["live", r.live?.usage],
    ].flatMap(([phase, usage]) =>
      ((usage as ReadPhase["usage"] | undefined) ?? []).map((u) => [
        r.system.name,
        phase as string,
        u.name,
        round(u.cpuPercent),
        round(u.maxRssMb),
      ]),
    ),
  );
  return {
    title: "processes during each measured phase (cpu: % of one core; the machine has 2)",
    columns: ["system", "phase", "process", "cpu %", "max rss MB"],
    rows,
  };
}

function ratioTable(ratios: [string, SubjectRatio][], extraNotes: string[]): Table {
  return {
    title:
      "ratios — Threadline ÷ the best durable peer that stored and delivered every event exactly once " +
      "(target: ratio ≤ 1 with Threadline's own run as clean)",
    columns: ["workload", "threadline", "threadline clean", "best durable peer", "its value", "ratio", "verdict"],
    rows: ratios.map(([workload, r]) => [
      workload,
      round(r.subject),
      r.subjectCorrect ? "yes" : "NO",
      r.best ?? "–",
      round(r.bestValue),
      round(r.ratio),
      verdict(r.ratio <= 1 && r.subjectCorrect),
    ]),
    notes: [
      ...ratios.flatMap(([workload, r]) => r.excluded.map((e) => `${workload}: ${e.name} not a bar (${e.reason})`)),
      ...extraNotes,
    ],
  };
}
