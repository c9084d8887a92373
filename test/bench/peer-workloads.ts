import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "@threadline/test-kit";
import { addChecks, compareSeqs, NO_ERRORS, type SeqCheck } from "./exactly-once.ts";
import { perReaderKb } from "./peer-ratio.ts";
import { type LiveStages, liveStages, type ReaderReceipts } from "./peer-stages.ts";
import type { PeerReader, RunningPeer } from "./peer-system.ts";
import { mapLimit } from "./pool.ts";
import { ProcessSampler, type ProcessUsage, rssMb } from "./process-sampler.ts";
import { measureResumes, type ReadPhase, randomPositions, SEED, WARMUP } from "./resume.ts";
import { LatencyRecorder, type LatencySummary } from "./stats.ts";

/** Readers opened concurrently. */
const OPEN_CONCURRENCY = 64;
/**
 * After the last write, readers get until everything stored arrived, or
 * nothing arrived for DRAIN_IDLE_MS (what is missing then is lost, not slow),
 * at most DRAIN_MAX_MS.
 */
const DRAIN_IDLE_MS = 5_000;
const DRAIN_MAX_MS = 60_000;

/**
 * (a) Resume: one stream of `events` events, then `resumes` reads (after
 * WARMUP unmeasured ones) from seeded uniform random positions, one at a
 * time, each through a fresh connection, each checked: exactly the events
 * after the position, once each, in order. Every system reads from the same
 * positions (the same seed, the same stream length).
 */
export async function runResumeWorkload(
  peer: RunningPeer,
  params: { events: number; resumes: number },
): Promise<ReadPhase> {
  const filled = await peer.fill(params.events);
  if (filled.positions.length !== params.events)
    throw new Error(`fill stored ${filled.positions.length} of ${params.events} events`);
  const positions = randomPositions(filled.positions, params.resumes + WARMUP, SEED);
  return measureResumes(
    positions,
    [...peer.processes.map((p): [string, number] => [p.name, p.pid]), ["bench (client)", process.pid]],
    filled.read,
    (index) => filled.positions.slice(index),
  );
}

/** (b) What the live workload measured for one system. */
export interface LiveResult {
  /** Write call (the event's `t`) → decoded at the reader, per event and reader. */
  latency: LatencySummary;
  expected: number;
  delivered: number;
  /** Events the writer could not store (not expected by any reader). */
  unstored: number;
  check: SeqCheck;
  /** Readers closed before the end. */
  dropped: number;
  usage: ProcessUsage[];
  notes: string[];
  /** Where the latency went, split at the store (systems with `storedAt` only). */
  stages?: LiveStages;
}

/**
 * (b) Live: `streams` streams × `readersPerStream` readers following from
 * now, then `rate` events per second into every stream for `durationS`
 * seconds, evenly spread (steady-schedule.ts). Every reader's receipts are
 * checked against what the writer stored for its stream.
 */
export async function runLiveWorkload(
  peer: RunningPeer,
  params: { streams: number; readersPerStream: number; rate: number; durationS: number },
  progress: (line: string) => void,
): Promise<LiveResult> {
  const names = Array.from({ length: params.streams }, (_, i) => `live-${i}`);
  await peer.createStreams(names);
  const latency = new LatencyRecorder();
  let received = 0;
  const receivers: ReaderReceipts[] = names.flatMap((_, stream) =>
    Array.from({ length: params.readersPerStream }, () => ({ stream, positions: [], sentAt: [], receivedAt: [] })),
  );
  progress(`live: opening ${receivers.length} readers`);
  const readers = await mapLimit(receivers, OPEN_CONCURRENCY, (receiver) =>
    peer.openReader(names[receiver.stream]!, (position, sentAt, at) => {
      received++;
      receiver.positions.push(position);
      receiver.sentAt.push(sentAt ?? Number.NaN);
      receiver.receivedAt.push(at);
      if (sentAt !== undefined) latency.record(at - sentAt);
    }),
  );
  try {
    const loadBefore = loadavg()[0]!;
    const sampler = new ProcessSampler();
    for (const p of peer.processes) sampler.watch(p.name, p.pid);
    sampler.watch("writer", peer.writerPid);
    sampler.watch("bench (client)", process.pid);
    sampler.start();
    progress(`live: ${params.rate} ev/s into each of ${params.streams} streams for ${params.durationS} s`);
    const report = await peer.write(names, params.rate, params.durationS * 1000);
    const stored = report.stored.reduce((n, s) => n + s.length, 0);
    const expected = stored * params.readersPerStream;
    await drain(() => received, expected);
    const usage = sampler.stop();
    let check = NO_ERRORS;
    for (const r of receivers) check = addChecks(check, compareSeqs(report.stored[r.stream]!, r.positions));
    const notes = [...report.notes, `1-min load average before / after: ${loadBefore} / ${loadavg()[0]}`];
    let stages: LiveStages | undefined;
    if (peer.storedAt) {
      try {
        stages = liveStages(receivers, await peer.storedAt(names, report.stored));
      } catch (error) {
        notes.push(`stored times not read, no stage split: ${error instanceof Error ? error.message : error}`);
      }
    }
    return {
      latency: latency.summary(),
      expected,
      delivered: received,
      unstored: report.unstored,
      check,
      dropped: readers.filter((r) => !r.isOpen).length,
      usage,
      notes,
      stages,
    };
  } finally {
    await closeAll(readers);
  }
}

/** (c) What the memory workload measured for one system. */
export interface MemoryResult {
  readers: number;
  /** Readers still open when the RSS was read. */
  open: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  kbPerReader: number;
  /** Each server process's RSS growth, MB. */
  perProcess: { name: string; deltaMb: number }[];
}

/**
 * (c) Memory: `readers` idle readers (`readersPerStream` per stream, streams
 * created first), and the growth of the summed RSS of the system's server
 * processes over opening them. RSS is read after holding still for
 * `settleMs` each time (a measurement window, not a synchronisation: nothing
 * signals that a process's heap has settled), before and after.
 */
export async function runMemoryWorkload(
  peer: RunningPeer,
  params: { readers: number; readersPerStream: number; settleMs: number },
  progress: (line: string) => void,
): Promise<MemoryResult> {
  const streams = Math.ceil(params.readers / params.readersPerStream);
  const names = Array.from({ length: streams }, (_, i) => `idle-${i}`);
  await peer.createStreams(names);
  await sleep(params.settleMs);
  const before = peer.processes.map((p) => rssMb(p.pid) ?? Number.NaN);
  progress(`memory: opening ${params.readers} idle readers on ${streams} streams`);
  const readers = await mapLimit(
    Array.from({ length: params.readers }, (_, i) => names[Math.floor(i / params.readersPerStream)]!),
    OPEN_CONCURRENCY,
    (name) => peer.openReader(name, () => {}),
  );
  try {
    await sleep(params.settleMs);
    const after = peer.processes.map((p) => rssMb(p.pid) ?? Number.NaN);
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    return {
      readers: params.readers,
      open: readers.filter((r) => r.isOpen).length,
      rssBeforeMb: sum(before),
      rssAfterMb: sum(after),
      kbPerReader: perReaderKb(sum(before), sum(after), params.readers),
      perProcess: peer.processes.map((p, i) => ({ name: p.name, deltaMb: after[i]! - before[i]! })),
    };
  } finally {
    await closeAll(readers);
  }
}

/** Waits until `count()` reaches `expected` or stops growing (see DRAIN_IDLE_MS). */
async function drain(count: () => number, expected: number): Promise<void> {
  let seen = count();
  let lastGrowth = performance.now();
  await waitFor(
    () => {
      if (count() !== seen) {
        seen = count();
        lastGrowth = performance.now();
      }
      return seen >= expected || performance.now() - lastGrowth > DRAIN_IDLE_MS;
    },
    { timeoutMs: DRAIN_MAX_MS },
  ).catch(() => {});
}

async function closeAll(readers: PeerReader[]): Promise<void> {
  await mapLimit(readers, OPEN_CONCURRENCY, async (r) => r.close());
}
