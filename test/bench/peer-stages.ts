import { LatencyRecorder, type LatencySummary } from "./stats.ts";

/** What one live reader received, aligned by index: position, the writer's send time and the arrival time (wall clock ms; NaN when the event carried no send time). */
export interface ReaderReceipts {
  /** Index of the reader's stream in the workload's stream list. */
  stream: number;
  positions: number[];
  sentAt: number[];
  receivedAt: number[];
}

/**
 * Where a live event's latency goes in a system with a storage step
 * (Threadline: agent → JetStream → gateway → reader): writer's send → stored,
 * then stored → decoded at the reader. Every delivery comes after its event
 * was stored, so each receipt's latency is at least its event's `toStored`,
 * and the live p99 can never be below `toStored.p99`.
 */
export interface LiveStages {
  /** Writer's send time → stored, once per event. */
  toStored: LatencySummary;
  /** Stored → decoded at the reader, once per receipt. */
  storedToReader: LatencySummary;
  /** Receipts without a send time or a stored time (not split). */
  unmatched: number;
}

/**
 * Splits the live receipts at the store: `storedAt[stream]` maps a position
 * to when the system stored it (ms, same wall clock as the send and arrival
 * times; Threadline: nats-server's stored timestamp of the message).
 * @example
 *   liveStages([{ stream: 0, positions: [7], sentAt: [100], receivedAt: [103] }], [new Map([[7, 101]])])
 *   // toStored p50 1, storedToReader p50 2
 */
export function liveStages(readers: readonly ReaderReceipts[], storedAt: readonly Map<number, number>[]): LiveStages {
  const toStored = new LatencyRecorder();
  const storedToReader = new LatencyRecorder();
  const counted = storedAt.map(() => new Set<number>());
  let unmatched = 0;
  for (const reader of readers) {
    const stored = storedAt[reader.stream];
    for (let i = 0; i < reader.positions.length; i++) {
      const position = reader.positions[i]!;
      const storedMs = stored?.get(position);
      const sentMs = reader.sentAt[i]!;
      if (storedMs === undefined || !Number.isFinite(sentMs)) {
        unmatched++;
        continue;
      }
      storedToReader.record(reader.receivedAt[i]! - storedMs);
      const seen = counted[reader.stream]!;
      if (!seen.has(position)) {
        seen.add(position);
        toStored.record(storedMs - sentMs);
      }
    }
  }
  return { toStored: toStored.summary(), storedToReader: storedToReader.summary(), unmatched };
}
