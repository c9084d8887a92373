import type { PeerRole } from "./peer-system.ts";

/** One system's number for a workload (lower is better: ms, KB) and whether its run was correct. */
export interface PeerMeasure {
  name: string;
  role: PeerRole;
  /** NaN when the system did not run the workload (it failed). */
  value: number;
  /** Every event written, stored and delivered exactly once, in order; no reader dropped. */
  correct: boolean;
}

export interface PeerRatio {
  /** subject ÷ the best peer's value; NaN when there is no subject value or no eligible peer. */
  ratio: number;
  /** The eligible durable peer with the lowest value. */
  best: string | undefined;
  bestValue: number;
  /** Durable peers left out, with why (a peer that lost or duplicated data, or did not run, sets no bar). */
  excluded: { name: string; reason: string }[];
}

/**
 * The ratio the `peers` scenario reports for a workload: Threadline's value
 * ÷ the lowest value among the durable peers whose run was correct. The
 * floor (plain SSE) is never the bar; a peer that refused writes, lost,
 * duplicated or reordered events, or failed, is excluded and named.
 * @example
 *   ratioToBestPeer(20, [{ name: "a", role: "durable-peer", value: 10, correct: true }]).ratio // 2
 */
export function ratioToBestPeer(subject: number, peers: readonly PeerMeasure[]): PeerRatio {
  const excluded: { name: string; reason: string }[] = [];
  let best: PeerMeasure | undefined;
  for (const peer of peers) {
    if (peer.role !== "durable-peer") continue;
    if (!Number.isFinite(peer.value)) excluded.push({ name: peer.name, reason: "no result" });
    else if (!peer.correct)
      excluded.push({ name: peer.name, reason: "not every event stored and delivered once, in order" });
    else if (!best || peer.value < best.value) best = peer;
  }
  const ratio = best && Number.isFinite(subject) && best.value > 0 ? subject / best.value : Number.NaN;
  return { ratio, best: best?.name, bestValue: best?.value ?? Number.NaN, excluded };
}

/**
 * Server-side memory per reader in KB: the growth of the summed RSS (MB) of
 * a system's server processes while `readers` idle readers were opened.
 * @example perReaderKb(100, 120, 2000) // 10.24
 */
export function perReaderKb(rssBeforeMb: number, rssAfterMb: number, readers: number): number {
  if (readers <= 0) return Number.NaN;
  return ((rssAfterMb - rssBeforeMb) * 1024) / readers;
}
