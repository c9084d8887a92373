import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { encodeMsgpack } from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";
import { cpuSeconds } from "./process-sampler.ts";
import { LatencyRecorder, round } from "./stats.ts";
import { runSteadySchedule } from "./steady-schedule.ts";

/**
 * Probe (not a scenario): what one filtered ordered consumer per active
 * session costs nats-server, without the gateway. It creates C ordered
 * consumers filtered to `tl.s<i>.>` (as the gateway's live feeds do), then
 * publishes 2 events/s into each of 1000 sessions for 10 s and prints the
 * nats-server CPU and the publish→ack latency.
 *
 *   node --import tsx test/bench/probe-consumer-cost.ts [consumers=1000] [file|memory]
 *
 * Measured on the 2-core machine with nats-server 2.9.10 (see RESULTS.md).
 */
const consumers = Number(process.argv[2] ?? 1000);
const storage = process.argv[3] === "memory" ? "memory" : "file";
const SESSIONS = 1000;

const nats = await startNatsServer();
try {
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PROBE", subjects: ["tl.>"], storage: storage as never });
  const js = jetstream(nc);
  const reader = await connect({ servers: nats.url });
  let delivered = 0;
  for (let i = 0; i < consumers; i++) {
    const consumer = await jetstream(reader).consumers.get("PROBE", {
      filter_subjects: `tl.s${i}.>`,
      deliver_policy: DeliverPolicy.New,
    });
    await consumer.consume({
      max_messages: 512,
      callback: () => {
        delivered++;
      },
    });
  }
  const ack = new LatencyRecorder();
  const cpu0 = cpuSeconds(nats.pid!) ?? 0;
  const started = performance.now();
  let published = 0;
  const pending = new Set<Promise<void>>();
  await runSteadySchedule({ sessions: SESSIONS, ratePerSession: 2, durationMs: 10_000 }, (i, n) => {
    const t = performance.now();
    published++;
    const p = js
      .publish(`tl.s${i}.out.agent.probe`, encodeMsgpack({ id: `e${i}-${n}`, data: { n } }))
      .then(() => ack.record(performance.now() - t))
      .finally(() => pending.delete(p));
    pending.add(p);
  });
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  const cpu = (((cpuSeconds(nats.pid!) ?? 0) - cpu0) / seconds) * 100;
  const s = ack.summary();
  console.log(
    JSON.stringify({
      consumers,
      storage,
      published,
      deliveredToConsumers: delivered,
      natsCpuPercent: round(cpu),
      ackP50Ms: round(s.p50),
      ackP99Ms: round(s.p99),
    }),
  );
  await reader.close();
  await nc.close();
} finally {
  await nats.stop();
}
