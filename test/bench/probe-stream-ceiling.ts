import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connectAgent } from "@threadline/agent";
import { type NatsServer, startCluster, startNatsServer } from "@threadline/test-kit";
import { cpuSeconds } from "./process-sampler.ts";
import { LatencyRecorder, round } from "./stats.ts";
import { killOnExit } from "./worker-process.ts";

/**
 * Probe (not a scenario): the publish ceiling of ONE Threadline stream on
 * this machine, for deploy/SCALING.md. `agents` agent processes
 * (`@threadline/agent`: msgpack event, dedupe id, JetStream ack) each keep
 * `window` publishes in flight, spread over 1000 sessions, for `seconds`;
 * printed: stored events/s, publish→ack p50/p99 (worst agent), nats-server
 * CPU. Once with one nats-server (R1), once with a local 3-node cluster and
 * the stream replicated 3 times (R3; the three nodes share this machine's
 * 2 cores, so this is a floor, not what three real hosts do).
 *
 *   node --import tsx test/bench/probe-stream-ceiling.ts [seconds=10] [window=128] [agents=3]
 */
const SESSIONS = 1000;
const payload = { text: "x".repeat(200) };

interface AgentReport {
  stored: number;
  failed: number;
  elapsed: number;
  p50: number;
  p99: number;
}

/** One publishing agent (child process mode): publishes until the deadline, reports over IPC. */
async function publisher(urls: string[], seconds: number, window: number, index: number): Promise<void> {
  const agent = await connectAgent({ servers: urls, id: `probe-agent-${index}`, provision: false });
  const latency = new LatencyRecorder();
  // Warm-up: the connection's buffers and the stream's first blocks.
  await Promise.all(Array.from({ length: 200 }, (_, i) => agent.publish(`s${i}`, { type: "probe", data: payload })));
  process.send?.({ type: "warm" });
  await new Promise<void>((resolve) => process.once("message", () => resolve()));
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let stored = 0;
  let failed = 0;
  let n = index;
  const lane = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await agent.publish(`s${n++ % SESSIONS}`, { type: "probe", data: payload });
        stored++;
        latency.record(performance.now() - t0);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const s = latency.summary();
  const report: AgentReport = { stored, failed, elapsed: (performance.now() - started) / 1000, p50: s.p50, p99: s.p99 };
  process.send?.({ type: "done", ...report });
  await agent.close();
  process.exit(0);
}

async function measure(
  label: string,
  urls: string[],
  servers: NatsServer[],
  replicas: number,
  params: { seconds: number; window: number; agents: number },
): Promise<void> {
  const admin = await connectAgent({ servers: urls, id: "probe-admin", provision: { replicas } });
  await admin.close();
  const children = Array.from({ length: params.agents }, (_, i) => {
    const child = fork(
      fileURLToPath(import.meta.url),
      ["publish", urls.join(","), String(params.seconds), String(params.window), String(i)],
      { execArgv: ["--import", "tsx"] },
    );
    const forget = killOnExit(child.pid);
    child.once("exit", forget);
    return child;
  });
  const next = (type: string) =>
    Promise.all(
      children.map(
        (c) =>
          new Promise<Record<string, number>>((resolve, reject) => {
            const onMessage = (m: { type: string }) => {
              if (m.type !== type) return;
              c.off("message", onMessage);
              resolve(m as unknown as Record<string, number>);
            };
            c.on("message", onMessage);
            c.once("exit", (code) => reject(new Error(`publisher exited (${code}) before "${type}"`)));
          }),
      ),
    );
  await next("warm");
  const cpu0 = servers.map((s) => (s.pid === undefined ? 0 : (cpuSeconds(s.pid) ?? 0)));
  const started = performance.now();
  const done = next("done");
  for (const c of children) c.send({ type: "go" });
  const reports = (await done) as unknown as AgentReport[];
  const elapsed = (performance.now() - started) / 1000;
  const cpu = servers.map((s, i) =>
    round((((s.pid === undefined ? 0 : (cpuSeconds(s.pid) ?? 0)) - (cpu0[i] ?? 0)) / elapsed) * 100),
  );
  const stored = reports.reduce((sum, r) => sum + r.stored, 0);
  const failed = reports.reduce((sum, r) => sum + r.failed, 0);
  console.log(
    `${label}: ${round(stored / elapsed)} events/s stored (${failed} failed), ack p50 ${round(Math.max(...reports.map((r) => r.p50)))} ms p99 ${round(Math.max(...reports.map((r) => r.p99)))} ms, nats-server cpu % ${cpu.join(" / ")}`,
  );
}

if (process.argv[2] === "publish") {
  const [, , , urls = "", seconds = "10", window = "128", index = "0"] = process.argv;
  await publisher(urls.split(","), Number(seconds), Number(window), Number(index));
} else {
  const params = {
    seconds: Number(process.argv[2] ?? 10),
    window: Number(process.argv[3] ?? 128),
    agents: Number(process.argv[4] ?? 3),
  };
  console.log(
    `one stream, ${params.agents} agent processes × ${params.window} publishes in flight, ${SESSIONS} sessions, ~260-byte events, ${params.seconds} s`,
  );
  const single = await startNatsServer();
  try {
    await measure("R1, 1 nats-server", [single.url], [single], 1, params);
  } finally {
    await single.stop();
  }
  const cluster = await startCluster(3);
  try {
    await measure("R3, 3-node local cluster", cluster.urls, cluster.servers, 3, params);
  } finally {
    await cluster.stop();
  }
  process.exit(0);
}
