import { Agent, request } from "node:http";
import { liveEventJson } from "./peer-events.ts";
import { LatencyRecorder, round, wallClockMs } from "./stats.ts";
import { runSteadySchedule } from "./steady-schedule.ts";
import { fromBench, toBench } from "./worker-process.ts";

/**
 * Worker process of the `peers` scenario: the writer of the Durable Streams
 * systems, a separate process appending over the protocol (`POST <path>`,
 * JSON) at a steady rate per stream, as an agent process would. Per stream
 * one POST is in flight at a time, so appends stay in order; events due
 * meanwhile wait and go together as one JSON array in the next POST (as the
 * Durable Streams client's producer batches while a request is in flight).
 * At most MAX_QUEUED events wait per stream; beyond that an event is skipped
 * and counted, so the report says the writer fell behind instead of hiding it.
 *
 * Protocol with the bench (IPC), `DS_URL` = the server's base URL:
 *   → ready
 *   ← start {paths, ratePerSession, durationMs}
 *   → done {stored: number[][] (acknowledged n per stream, in order), failed, skipped, unsettled,
 *           posts, postP50Ms, postP99Ms, errors, schedule}
 */
const MAX_QUEUED = 10_000;
/** How long to wait for outstanding appends after the last event was due. */
const SETTLE_TIMEOUT_MS = 15_000;

const base = process.env.DS_URL;
if (!base) throw new Error("DS_URL is required");
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
toBench({ type: "ready" });

/** POSTs `body` to `path`; resolves with the status code. */
function post(path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

fromBench(async (message) => {
  if (message.type !== "start") return;
  const paths = message.paths as string[];
  const stored: number[][] = paths.map(() => []);
  const queues: { n: number; json: string }[][] = paths.map(() => []);
  const busy = paths.map(() => false);
  const postLatency = new LatencyRecorder();
  const errors = new Map<string, number>();
  let failed = 0;
  let skipped = 0;
  let posts = 0;
  let inFlight = 0;
  let scheduleDone = false;
  let settled: () => void = () => {};
  const allSettled = new Promise<void>((resolve) => {
    settled = resolve;
  });
  const maybeSettled = () => {
    if (scheduleDone && inFlight === 0 && queues.every((q) => q.length === 0)) settled();
  };
  const flush = (i: number) => {
    if (busy[i] || queues[i]!.length === 0) return;
    const batch = queues[i]!.splice(0);
    busy[i] = true;
    inFlight++;
    posts++;
    const t0 = wallClockMs();
    const body = batch.length === 1 ? batch[0]!.json : `[${batch.map((e) => e.json).join(",")}]`;
    post(paths[i]!, body)
      .then((status) => {
        if (status >= 200 && status < 300) {
          postLatency.record(wallClockMs() - t0);
          for (const e of batch) stored[i]!.push(e.n);
        } else throw new Error(`HTTP ${status}`);
      })
      .catch((error: unknown) => {
        failed += batch.length;
        const key = error instanceof Error ? error.message.slice(0, 120) : String(error);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      })
      .finally(() => {
        busy[i] = false;
        inFlight--;
        flush(i);
        maybeSettled();
      });
  };
  const schedule = await runSteadySchedule(
    {
      sessions: paths.length,
      ratePerSession: message.ratePerSession as number,
      durationMs: message.durationMs as number,
    },
    (i, n) => {
      if (queues[i]!.length >= MAX_QUEUED) {
        skipped++;
        return;
      }
      queues[i]!.push({ n, json: liveEventJson(n, wallClockMs()) });
      flush(i);
    },
  );
  scheduleDone = true;
  maybeSettled();
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, SETTLE_TIMEOUT_MS).unref());
  await Promise.race([allSettled, timeout]);
  const latency = postLatency.summary();
  toBench({
    type: "done",
    stored,
    failed,
    skipped,
    unsettled: inFlight + queues.reduce((n, q) => n + q.length, 0),
    posts,
    postP50Ms: round(latency.p50),
    postP99Ms: round(latency.p99),
    errors: Object.fromEntries(errors),
    schedule,
  });
});
