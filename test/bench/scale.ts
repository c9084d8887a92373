// Over 400 lines on purpose: one benchmark scenario (sockets × sessions at scale) with its own process setup and report.
import { connectAgent } from "@threadline/agent";
import { startNatsServer } from "@threadline/test-kit";
import { Cleanup } from "./cleanup.ts";
import { cpuSeconds, rssMb } from "./process-sampler.ts";
import { fdLimitOf, forkWorker, type ScaleWorker, spawnScaleGateway } from "./scale-processes.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { round, summarize, wallClockMs } from "./stats.ts";
import type { Cell } from "./table.ts";
import { verdict } from "./table.ts";

const TARGETS = { sockets: 50_000, rssPerSocketKb: 8, fanout10kP99Ms: 50 };
/** File descriptors asked for every process (granted up to the hard limit). */
const WANTED_FDS = 1_048_576;
/** Sockets per client process at most (each process has its own fd limit). */
const SOCKETS_PER_CLIENT = 12_500;
/** Descriptors the server keeps for itself (NATS, listen socket, files) when the fd limit bounds the ramp. */
const FD_HEADROOM = 200;
/** Loopback source addresses the client sockets are spread over (ephemeral ports are per source address). */
const LOCAL_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
/** Default presence heartbeat of the gateway under test (`--heartbeat`; the gateway's own default, 2 s, costs one KV write per socket every 2 s). */
const PRESENCE_HEARTBEAT_MS = 60_000;

/**
 * Scale of one gateway process, against a plain uWebSockets.js server (the
 * peer, `scale-peer.ts`) in the same run:
 *
 * 1. Idle attached sockets: client processes (`scale-client.ts`) open sockets
 *    in steps of `--step` (Threadline: hello with a per-user token, attach
 *    from `now`, one session per 2 sockets; peer: a bare socket) until
 *    `--sockets`, the server's file-descriptor limit (raised as far as the
 *    hard limit allows), `--memory-mb` of server RSS, or the first failed
 *    handshake. RSS per socket = (RSS at the end − RSS before the first
 *    socket) / sockets.
 * 2. Fan-out: N sockets (growing to `--fanout`) attached to ONE session;
 *    `--events` events, one at a time, each published by an agent
 *    (`@threadline/agent`, through JetStream) or by the peer's uWS
 *    `publish`; the time from the publish call until the LAST of the N
 *    sockets has decoded it, p50/p99 over the events.
 */
export const scale: Scenario = {
  name: "scale",
  description: "idle attached sockets per gateway process (RSS per socket) and one event fanned out to N sockets",
  flags: {
    sockets: "idle sockets to ramp to (default 50000, quick 2000)",
    step: "sockets opened per ramp step (default 2500, quick 500)",
    fanout: "largest fan-out N (default 10000, quick 1000)",
    events: "events published per fan-out size (default 30, quick 10)",
    "memory-mb": "stop the ramp when the server's RSS exceeds this (default 8192)",
    heartbeat: "the gateway's presence heartbeat, ms (default 60000)",
    hold: "seconds the idle sockets are held after the ramp, CPU measured (default 10, quick 3)",
  },
  run,
};

interface Ramp {
  sockets: number;
  baseRssMb: number;
  endRssMb: number;
  rssPerSocketKb: number;
  /** RSS growth per socket over the second half of the ramp (fixed start-up costs excluded). */
  marginalKb: number;
  stopReason: string;
  fdLimit: number;
  seconds: number;
  cpuSeconds: number;
  /** CPU % of the server (and of nats-server) while the sockets sat idle for `--hold` seconds. */
  holdCpuPercent: number;
  holdNatsCpuPercent: number | undefined;
}

interface Fanout {
  size: number;
  allMs: number[];
  firstMs: number[];
  missing: number;
  /** Server CPU per event (ms): what sending one event to N sockets costs the server, whatever the receivers do. */
  serverCpuMsPerEvent: number;
}

/** The system under test: how to reach it and how to publish one event to the fan-out group. */
interface System {
  name: string;
  protocol: "threadline" | "plain";
  url: string;
  pid: number;
  /** nats-server, when the system uses it. */
  natsPid: number | undefined;
  publish(n: number): Promise<void>;
  /** Open sockets as the server counts them. */
  openSockets(): Promise<number>;
}

async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const params = {
    sockets: options.overrides.sockets ?? (options.quick ? 2000 : TARGETS.sockets),
    step: options.overrides.step ?? (options.quick ? 500 : 2500),
    fanout: options.overrides.fanout ?? (options.quick ? 1000 : 10_000),
    events: options.overrides.events ?? (options.quick ? 10 : 30),
    memoryMb: options.overrides["memory-mb"] ?? 8192,
    heartbeatMs: options.overrides.heartbeat ?? PRESENCE_HEARTBEAT_MS,
    holdSeconds: options.overrides.hold ?? (options.quick ? 3 : 10),
  };
  const fanoutSizes = [...new Set([Math.min(100, params.fanout), Math.min(1000, params.fanout), params.fanout])];
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server, the gateway and the plain uWS peer");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    const gateway = await spawnScaleGateway(nats.url, WANTED_FDS, {
      THREADLINE_GATEWAY_ID: "bench-scale",
      THREADLINE_PRESENCE_HEARTBEAT_MS: String(params.heartbeatMs),
    });
    cleanup.defer("gateway", () => gateway.stop());
    const peer = await forkWorker("test/bench/scale-peer.ts", WANTED_FDS);
    cleanup.defer("peer", () => peer.stop());
    const agent = await connectAgent({ servers: nats.url, id: "bench-agent" });
    cleanup.defer("agent", () => agent.close());

    const gatewayPort = new URL(gateway.url).port;
    const threadline: System = {
      name: "threadline gateway",
      protocol: "threadline",
      url: gateway.url,
      pid: gateway.pid,
      natsPid: nats.pid,
      publish: async (n) => {
        await agent.publish("fanout", { type: "bench.fanout", data: { n } });
      },
      openSockets: async () => {
        const text = await (await fetch(`http://127.0.0.1:${gatewayPort}/metrics`)).text();
        return Number(/^threadline_gateway_connections(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? Number.NaN);
      },
    };
    const plain: System = {
      name: "plain uWS (peer)",
      protocol: "plain",
      url: `ws://127.0.0.1:${peer.ready.port}/`,
      pid: peer.pid,
      natsPid: undefined,
      publish: async (n) => peer.send({ type: "publish", n }),
      openSockets: async () => {
        peer.send({ type: "count" });
        return (await peer.next("count", 10_000)).open as number;
      },
    };

    const serverFds = Math.min(fdLimitOf(gateway.pid), fdLimitOf(peer.pid));
    const rampTarget = Math.min(params.sockets, serverFds - FD_HEADROOM);
    const clientCount = Math.ceil(Math.max(rampTarget, params.fanout) / SOCKETS_PER_CLIENT);
    options.progress(`server fd limit ${serverFds}; ${clientCount} client processes`);
    const clients = await Promise.all(
      Array.from({ length: clientCount }, () => forkWorker("test/bench/scale-client.ts", WANTED_FDS)),
    );
    for (const client of clients) cleanup.defer("client", () => client.stop());
    const perClientFds = Math.min(...clients.map((c) => fdLimitOf(c.pid)));
    if (perClientFds - FD_HEADROOM < Math.min(SOCKETS_PER_CLIENT, rampTarget))
      throw new Error(`client processes may open only ${perClientFds} files; raise the hard RLIMIT_NOFILE`);

    const ramps: Ramp[] = [];
    const fanouts: Fanout[][] = [];
    let nextUser = 0;
    for (const system of [threadline, plain]) {
      options.progress(`${system.name}: idle sockets, ramp to ${rampTarget} in steps of ${params.step}`);
      const ramp = await rampIdle(system, clients, rampTarget, params, serverFds, nextUser, options);
      nextUser += ramp.sockets + params.step;
      ramps.push(ramp);
      options.progress(
        `${system.name}: ${ramp.sockets} sockets, ${round(ramp.rssPerSocketKb)} KB each (${ramp.stopReason})`,
      );
      await closeAll(clients);

      const results: Fanout[] = [];
      let open = 0;
      let n = 0;
      for (const size of fanoutSizes) {
        options.progress(`${system.name}: fan-out to ${size} sockets of one session, ${params.events} events`);
        await openSockets(system, clients, size - open, nextUser, "fanout");
        nextUser += size - open;
        open = size;
        const result: Fanout = { size, allMs: [], firstMs: [], missing: 0, serverCpuMsPerEvent: 0 };
        const cpuBefore = cpuSeconds(system.pid) ?? 0;
        for (let e = 0; e < params.events; e++) {
          n++;
          const waits = clients.map((c) => c.next("got", 30_000));
          for (const c of clients) c.send({ type: "expect", n });
          const t0 = wallClockMs();
          await system.publish(n);
          const got = await Promise.all(waits);
          const received = got.reduce((sum, g) => sum + (g.count as number), 0);
          result.missing += size - received;
          const withEvents = got.filter((g) => (g.count as number) > 0);
          result.allMs.push(Math.max(...withEvents.map((g) => g.lastAt as number)) - t0);
          result.firstMs.push(Math.min(...withEvents.map((g) => g.firstAt as number)) - t0);
        }
        result.serverCpuMsPerEvent = (((cpuSeconds(system.pid) ?? 0) - cpuBefore) * 1000) / params.events;
        results.push(result);
      }
      fanouts.push(results);
      await closeAll(clients);
    }

    return report(params, ramps, fanouts);
  } finally {
    await cleanup.run();
  }
}

/** Opens `count` sockets spread evenly over the clients; throws when any fails. */
async function openSockets(
  system: System,
  clients: ScaleWorker[],
  count: number,
  firstUser: number,
  session: string,
): Promise<{ opened: number; failed: number; error: string | undefined }> {
  const share = Math.ceil(count / clients.length);
  const replies = await Promise.all(
    clients.map(async (client, i) => {
      const n = Math.max(0, Math.min(share, count - i * share));
      if (n === 0) return { opened: 0, failed: 0, error: undefined };
      const reply = client.next("opened", 300_000);
      client.send({
        type: "open",
        protocol: system.protocol,
        url: system.url,
        count: n,
        first: firstUser + i * share,
        session,
        localAddresses: LOCAL_ADDRESSES,
      });
      const r = await reply;
      return { opened: r.opened as number, failed: r.failed as number, error: r.error as string | undefined };
    }),
  );
  return {
    opened: replies.reduce((s, r) => s + r.opened, 0),
    failed: replies.reduce((s, r) => s + r.failed, 0),
    error: replies.find((r) => r.error)?.error,
  };
}

async function rampIdle(
  system: System,
  clients: ScaleWorker[],
  target: number,
  params: { step: number; memoryMb: number; sockets: number; holdSeconds: number },
  serverFds: number,
  firstUser: number,
  options: ScenarioOptions,
): Promise<Ramp> {
  const baseRssMb = rssMb(system.pid) ?? 0;
  const cpu0 = cpuSeconds(system.pid) ?? 0;
  const started = performance.now();
  let sockets = 0;
  const samples: { sockets: number; rssMb: number }[] = [];
  let stopReason = `reached --sockets ${params.sockets}`;
  if (target < params.sockets) stopReason = `fd limit: RLIMIT_NOFILE ${serverFds} (hard), ${FD_HEADROOM} kept`;
  while (sockets < target) {
    const step = Math.min(params.step, target - sockets);
    const r = await openSockets(system, clients, step, firstUser + sockets, "*");
    sockets += r.opened;
    const rss = rssMb(system.pid) ?? 0;
    samples.push({ sockets, rssMb: rss });
    options.progress(`  ${sockets} sockets, server RSS ${round(rss)} MB`);
    if (r.failed > 0) {
      stopReason = `${r.failed} handshakes failed: ${r.error}`;
      break;
    }
    if (rss > params.memoryMb) {
      stopReason = `server RSS ${round(rss)} MB > --memory-mb ${params.memoryMb}`;
      break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuSecondsUsed = (cpuSeconds(system.pid) ?? 0) - cpu0;
  // Every socket must still be open (none dropped by idle timeouts or limits while the ramp went on).
  const open = await system.openSockets();
  if (open !== sockets) stopReason += `; server counts ${open} open sockets, clients ${sockets}`;
  const endRssMb = rssMb(system.pid) ?? 0;
  options.progress(`  holding ${sockets} idle sockets for ${params.holdSeconds} s`);
  const cpuOf = (pid: number | undefined) => (pid === undefined ? undefined : cpuSeconds(pid));
  const hold0 = { server: cpuOf(system.pid) ?? 0, nats: cpuOf(system.natsPid) };
  const holdStarted = performance.now();
  await new Promise((r) => setTimeout(r, params.holdSeconds * 1000));
  const held = (performance.now() - holdStarted) / 1000;
  const natsNow = cpuOf(system.natsPid);
  const holdNatsCpuPercent =
    natsNow === undefined || hold0.nats === undefined ? undefined : ((natsNow - hold0.nats) / held) * 100;
  const holdCpuPercent = (((cpuOf(system.pid) ?? 0) - hold0.server) / held) * 100;
  const mid = samples.find((x) => x.sockets >= sockets / 2) ?? { sockets: 0, rssMb: baseRssMb };
  return {
    sockets: Math.min(open, sockets),
    baseRssMb,
    endRssMb,
    rssPerSocketKb: sockets > 0 ? ((endRssMb - baseRssMb) * 1024) / sockets : Number.NaN,
    marginalKb: sockets > mid.sockets ? ((endRssMb - mid.rssMb) * 1024) / (sockets - mid.sockets) : Number.NaN,
    stopReason,
    fdLimit: serverFds,
    seconds,
    cpuSeconds: cpuSecondsUsed,
    holdCpuPercent,
    holdNatsCpuPercent,
  };
}

async function closeAll(clients: ScaleWorker[]): Promise<void> {
  await Promise.all(
    clients.map((c) => {
      const closed = c.next("closed", 60_000);
      c.send({ type: "close" });
      return closed;
    }),
  );
}

function report(
  params: {
    sockets: number;
    step: number;
    fanout: number;
    events: number;
    memoryMb: number;
    heartbeatMs: number;
    holdSeconds: number;
  },
  ramps: Ramp[],
  fanouts: Fanout[][],
): ScenarioResult {
  const [tl, peer] = ramps as [Ramp, Ramp];
  const idleRows: Cell[][] = ramps.map((r, i) => [
    i === 0 ? "threadline gateway" : "plain uWS (peer)",
    r.sockets,
    round(r.baseRssMb),
    round(r.endRssMb),
    round(r.rssPerSocketKb),
    round(r.marginalKb),
    round(r.sockets / r.seconds),
    round(r.cpuSeconds),
    round(r.holdCpuPercent),
    r.holdNatsCpuPercent === undefined ? "-" : round(r.holdNatsCpuPercent),
    r.stopReason,
  ]);
  const largest = (i: number) => fanouts[i]?.at(-1) as Fanout;
  const fanoutRows: Cell[][] = [];
  fanouts.forEach((results, i) => {
    for (const f of results) {
      const all = summarize(f.allMs);
      const first = summarize(f.firstMs);
      fanoutRows.push([
        i === 0 ? "threadline gateway" : "plain uWS (peer)",
        f.size,
        f.allMs.length,
        round(first.p50),
        round(all.p50),
        round(all.p99),
        round(all.max),
        round(f.serverCpuMsPerEvent),
        f.missing,
      ]);
    }
  });
  const tlFan = summarize(largest(0).allMs);
  const peerFan = summarize(largest(1).allMs);
  const json = {
    scenario: "scale",
    maxSockets: tl.sockets,
    rssPerSocketKb: round(tl.rssPerSocketKb),
    rssPerSocketMarginalKb: round(tl.marginalKb),
    fanout10kP99Ms: round(tlFan.p99),
    fanoutN: largest(0).size,
    fanoutServerCpuMsPerEvent: round(largest(0).serverCpuMsPerEvent),
    peerFanoutServerCpuMsPerEvent: round(largest(1).serverCpuMsPerEvent),
    fanoutMissing: fanouts.flat().reduce((s, f) => s + f.missing, 0),
    stopReason: tl.stopReason,
    fdLimit: tl.fdLimit,
    peerMaxSockets: peer.sockets,
    peerRssPerSocketKb: round(peer.rssPerSocketKb),
    peerRssPerSocketMarginalKb: round(peer.marginalKb),
    peerFanoutP99Ms: round(peerFan.p99),
    ratioRssPerSocket: round(tl.rssPerSocketKb / peer.rssPerSocketKb),
    ratioFanoutP99: round(tlFan.p99 / peerFan.p99),
    idleCpuPercent: round(tl.holdCpuPercent),
    idleNatsCpuPercent: tl.holdNatsCpuPercent === undefined ? undefined : round(tl.holdNatsCpuPercent),
    params,
  };
  const fdBound = tl.stopReason.startsWith("fd limit");
  return {
    json,
    tables: [
      {
        title: "scale: idle attached sockets in one server process",
        columns: [
          "server",
          "sockets",
          "base RSS MB",
          "end RSS MB",
          "KB/socket",
          "marginal KB",
          "opened/s",
          "ramp CPU s",
          "idle CPU %",
          "idle nats CPU %",
          "stopped by",
        ],
        rows: idleRows,
        notes: [
          `target: ≥ ${TARGETS.sockets} sockets ${fdBound ? "(not reachable here: the fd limit stops the ramp first; extrapolate from KB/socket)" : verdict(tl.sockets >= TARGETS.sockets)}, ≤ ${TARGETS.rssPerSocketKb} KB/socket ${verdict(tl.rssPerSocketKb <= TARGETS.rssPerSocketKb)}`,
          "KB/socket = (end RSS − base RSS) / sockets; marginal = RSS growth per socket over the second half of the ramp.",
          `idle CPU: the server (and nats-server) while the sockets sat idle for ${params.holdSeconds} s after the ramp (pings, presence heartbeats).`,
          `threadline sockets: hello (HS256 token) + attach from now, one session per 2 sockets, presence heartbeat ${params.heartbeatMs / 1000} s; ratio KB/socket threadline / peer = ${json.ratioRssPerSocket}`,
          `${Math.round(tl.sockets * tl.rssPerSocketKb)} KB for ${tl.sockets} sockets → a pod of 1 GiB holds ≈ ${Math.floor((1024 * 1024 - tl.baseRssMb * 1024) / tl.rssPerSocketKb)} idle sockets`,
        ],
      },
      {
        title: "scale: one event to N sockets of one session (ms from publish to the last socket)",
        columns: [
          "server",
          "N",
          "events",
          "first p50",
          "all p50",
          "all p99",
          "all max",
          "server CPU ms/event",
          "missing",
        ],
        rows: fanoutRows,
        notes: [
          `target: all ${largest(0).size} sockets within ${TARGETS.fanout10kP99Ms} ms at p99 ${verdict(tlFan.p99 <= TARGETS.fanout10kP99Ms)}${largest(0).size < 10_000 ? " (measured at N < 10k)" : ""}; ratio p99 threadline / peer = ${json.ratioFanoutP99}`,
          "threadline: agent publish → JetStream → the gateway's one ordered consumer → N WebSocket sends; peer: IPC → uWS publish to a topic.",
          "Receivers are the bench's client processes (ws, msgpack decode): their time to take N frames is in both rows.",
          "server CPU ms/event: the server process's CPU time over the events / events (threadline: NATS receive, dispatch, N sends; peer: uWS publish) — independent of the receivers.",
        ],
      },
    ],
  };
}
