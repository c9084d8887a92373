import { connectAgent } from "@threadline/agent";
import { LatencyRecorder, round, wallClockMs } from "./stats.ts";
import { runSteadySchedule } from "./steady-schedule.ts";
import { fromBench, toBench } from "./worker-process.ts";

/**
 * Worker process of the `delivery` scenario: an agent publishing into the
 * sessions with `@threadline/agent` (straight to NATS JetStream; the gateway
 * is not involved), at a steady rate per session. Each event carries
 * `data.t`, the high-resolution wall clock just before the publish call, so
 * the bench measures end-to-end latency (publish → stored → republished →
 * gateway → socket).
 *
 * Publishes are pipelined (not awaited one by one), at most MAX_IN_FLIGHT at
 * a time; an event due while that many are outstanding is skipped and
 * counted, so the load stays bounded and the report says the agent fell
 * behind instead of hiding it.
 *
 * Protocol with the bench (IPC):
 *   → ready
 *   ← start {sessions, ratePerSession, durationMs}
 *   → done {stored: number[][] (seqs per session), failed, skipped, storeP50Ms, storeP99Ms, schedule}
 */
const MAX_IN_FLIGHT = 20_000;
/** How long to wait for outstanding acknowledgements after the last publish. */
const SETTLE_TIMEOUT_MS = 15_000;

const servers = process.env.NATS_URL;
if (!servers) throw new Error("NATS_URL is required");
const agent = await connectAgent({ servers, id: "bench-agent" });
toBench({ type: "ready" });

fromBench(async (message) => {
  if (message.type !== "start") return;
  const sessions = message.sessions as string[];
  const stored: number[][] = sessions.map(() => []);
  const storeLatency = new LatencyRecorder();
  const errors = new Map<string, number>();
  let inFlight = 0;
  let skipped = 0;
  let failed = 0;
  let settled: () => void = () => {};
  const allSettled = new Promise<void>((resolve) => {
    settled = resolve;
  });
  let scheduleDone = false;
  const schedule = await runSteadySchedule(
    {
      sessions: sessions.length,
      ratePerSession: message.ratePerSession as number,
      durationMs: message.durationMs as number,
    },
    (i, n) => {
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        return;
      }
      inFlight++;
      const t = wallClockMs();
      agent.publish(sessions[i]!, { type: "bench.tick", data: { t, n } }).then(
        (result) => {
          storeLatency.record(wallClockMs() - t);
          stored[i]!.push(result.seq);
          if (--inFlight === 0 && scheduleDone) settled();
        },
        (error: unknown) => {
          failed++;
          const key = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 120) : String(error);
          errors.set(key, (errors.get(key) ?? 0) + 1);
          if (--inFlight === 0 && scheduleDone) settled();
        },
      );
    },
  );
  scheduleDone = true;
  if (inFlight === 0) settled();
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, SETTLE_TIMEOUT_MS).unref());
  await Promise.race([allSettled, timeout]);
  const store = storeLatency.summary();
  toBench({
    type: "done",
    stored,
    failed,
    skipped,
    unsettled: inFlight,
    errors: Object.fromEntries(errors),
    storeP50Ms: round(store.p50),
    storeP99Ms: round(store.p99),
    storeMaxMs: round(store.max),
    schedule,
  });
});
