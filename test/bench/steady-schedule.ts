import { setTimeout as sleep } from "node:timers/promises";

export interface SteadySchedule {
  sessions: number;
  /** Events per second per session. */
  ratePerSession: number;
  durationMs: number;
}

export interface ScheduleReport {
  /** Events emitted (= sessions × rate × duration, rounded down). */
  emitted: number;
  /** Wall time from the first due event to the last emit. */
  elapsedMs: number;
  /** How late the latest emit was against its due time (the generator's own lag). */
  maxLagMs: number;
}

/**
 * Emits `sessions × ratePerSession × duration` events evenly spaced in time,
 * round-robin over the sessions (event j goes to session j mod S, its n-th
 * event n = ⌊j / S⌋), so every session gets exactly `ratePerSession` events
 * per second and the aggregate load is flat instead of bursty. Both the
 * Threadline publisher and the SSE baseline use this, so they generate the
 * same workload. The loop wakes every millisecond and emits what is due; it
 * ends by itself after the last event.
 */
export async function runSteadySchedule(
  schedule: SteadySchedule,
  emit: (sessionIndex: number, n: number) => void,
): Promise<ScheduleReport> {
  const total = Math.floor((schedule.sessions * schedule.ratePerSession * schedule.durationMs) / 1000);
  const intervalMs = 1000 / (schedule.ratePerSession * schedule.sessions);
  const start = performance.now();
  let next = 0;
  let maxLagMs = 0;
  while (next < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / intervalMs) + 1);
    if (due > next) maxLagMs = Math.max(maxLagMs, now - (start + next * intervalMs));
    for (; next < due; next++) emit(next % schedule.sessions, Math.floor(next / schedule.sessions));
    if (next < total) await sleep(1);
  }
  return { emitted: total, elapsedMs: performance.now() - start, maxLagMs };
}
