import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { connectAgent } from "@threadline/agent";
import { createClient, type SessionHandle } from "@threadline/client";
import { dedupeKey, encodeMsgpack, newId, type SessionEvent, type SessionRecord } from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";
import WebSocket from "ws";
import { startWorkerProcess, type WorkerProcess } from "../integration/support/control-agent.ts";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { round, summarize, wallClockMs } from "./stats.ts";
import type { Cell } from "./table.ts";
import { verdict } from "./table.ts";

const TARGETS = { cancelP99Ms: 50, toolRoundTripP99Ms: 50, takeoverP99Ms: 2000 };
const LEASE_MS = 1000;

/**
 * Live control latency, end to end through a gateway process and agent
 * worker processes (serveAgent, the scripted test handler):
 * - cancel: a client publishes `cancel` for a running turn → the handler's
 *   `ctx.signal` fires in the worker (both wall clocks, one machine);
 * - tool round trip: the handler's `callClientTool` from call to resolution
 *   (control-bucket write, `tool.call` stored, delivered to the client, which
 *   answers at once, gateway CAS + store, control feed → handler);
 * - takeover: the worker running a turn is SIGKILLed → `turn.resumed`
 *   (published by the other worker) received by the client; lease 1000 ms.
 * Peer rows (same run): a raw core-NATS request/reply round trip between two
 * connections — the floor any NATS-based control path pays once — and the
 * client's own cancel event coming back to it through the gateway (the
 * gateway + JetStream part of the cancel path, without the agent).
 */
export const control: Scenario = {
  name: "control",
  description:
    "cancel → agent signal, client tool round trip, worker SIGKILL → turn.resumed (gateway + worker processes)",
  flags: {
    cancels: "cancel trials (default 200, quick 30)",
    tools: "tool calls (default 200, quick 30)",
    kills: "worker SIGKILL trials (default 10, quick 3)",
  },
  run,
};

async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const params = {
    cancels: options.overrides.cancels ?? (options.quick ? 30 : 200),
    tools: options.overrides.tools ?? (options.quick ? 30 : 200),
    kills: options.overrides.kills ?? (options.quick ? 3 : 10),
  };
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server, gateway process, two worker processes");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    // Provision the stream and buckets before the workers and the gateway start.
    const provisioner = await connectAgent({ servers: nats.url, id: "bench-provisioner" });
    await provisioner.close();
    // One bench user on one socket publishes ~100-250 events/s (inputs, cancels, tool results back to
    // back): above the gateway's default per-user limit (50/s) and per-socket frame limit (100/s, burst
    // 200), which would answer RATE_LIMITED and make the client SDK retry after its backoff (170-400 ms
    // outliers in 1-2 % of the calls that measure the limiter, not the control path).
    const gateway = await spawnGateway(nats.url, {
      THREADLINE_GATEWAY_ID: "bench-gateway",
      THREADLINE_LIMIT_USER_EVENTS_PER_SECOND: "100000",
      THREADLINE_LIMIT_USER_EVENT_BURST: "100000",
      THREADLINE_LIMIT_FRAMES_PER_SECOND: "100000",
      THREADLINE_LIMIT_FRAME_BURST: "100000",
    });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());
    let workerCount = 0;
    const workers = new Set<WorkerProcess>();
    const spawnWorker = async () => {
      const w = await startWorkerProcess(nats.url, { worker: `w${workerCount++}`, leaseMs: LEASE_MS });
      workers.add(w);
      cleanup.deferProcess(`worker ${w.worker}`, w.pid, () => w.kill("SIGKILL"));
      return w;
    };
    await spawnWorker();
    await spawnWorker();

    const client = createClient({
      url: gateway.url,
      token: () => mintToken({ sub: "bench-user" }),
      device: "bench",
      WebSocket: WebSocket as never,
    });
    cleanup.defer("client", () => client.close());
    const session = await client.attach("bench-control", { from: "now" });
    const feed = follow(session);
    // Answer every tool call at once, from the events callback.
    feed.onRecord((r) => {
      if (r.event.type === "tool.call") {
        void session.publish({ type: "tool.result", ref: r.event.ref!, data: { result: { ok: true } } });
      }
    });

    options.progress(`cancel → signal: ${params.cancels} trials`);
    const cancel: number[] = [];
    const cancelEcho: number[] = [];
    for (let i = 0; i < params.cancels; i++) {
      const { id: turn } = await session.publish({ type: "input", data: { text: "signal-probe" } });
      await feed.next((r) => r.event.type === "note" && r.event.turn === turn && noteText(r) === "armed");
      const t0 = wallClockMs();
      await session.publish({ type: "cancel", turn });
      const fired = await feed.next(
        (r) => r.event.type === "note" && r.event.turn === turn && noteText(r) === "signal fired",
      );
      cancel.push((fired.event.data as { firedAt: number }).firedAt - t0);
      await feed.next((r) => r.event.type === "cancel" && r.event.turn === turn);
      cancelEcho.push(feed.receivedAt(turn, "cancel")! - t0);
      await feed.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
    }

    options.progress(`cancel stored straight into JetStream (no gateway) → signal: ${params.cancels} trials`);
    const direct = await connect({ servers: nats.url });
    cleanup.defer("direct connection", () => direct.close());
    const cancelDirect: number[] = [];
    for (let i = 0; i < params.cancels; i++) {
      const { id: turn } = await session.publish({ type: "input", data: { text: "signal-probe" } });
      await feed.next((r) => r.event.type === "note" && r.event.turn === turn && noteText(r) === "armed");
      const event: SessionEvent = {
        id: newId(),
        type: "cancel",
        turn,
        ts: Date.now(),
        from: { kind: "user", id: "bench-user" },
      };
      const t0 = wallClockMs();
      await jetstream(direct).publish("tl.bench-control.ctl.user.bench-user", encodeMsgpack(event), {
        msgID: dedupeKey("bench-control", event.id),
      });
      const fired = await feed.next(
        (r) => r.event.type === "note" && r.event.turn === turn && noteText(r) === "signal fired",
      );
      cancelDirect.push((fired.event.data as { firedAt: number }).firedAt - t0);
      await feed.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
    }

    options.progress(`tool round trip: ${params.tools} calls`);
    const { id: toolTurn } = await session.publish({ type: "input", data: { text: `tool-probe ${params.tools}` } });
    const durations = await feed.next(
      (r) => r.event.type === "note" && r.event.turn === toolTurn && noteText(r) === "tool durations",
      60_000,
    );
    const tool = (durations.event.data as { durations: number[] }).durations;

    options.progress(`worker SIGKILL → turn.resumed: ${params.kills} trials (lease ${LEASE_MS} ms)`);
    const takeover: number[] = [];
    for (let i = 0; i < params.kills; i++) {
      const { id: turn } = await session.publish({ type: "input", data: { text: "wait" } });
      const start = await feed.next((r) => r.event.type === "turn.start" && r.event.turn === turn);
      const running = [...workers].find((w) => w.worker === (start.event.data as { worker: string }).worker)!;
      const t0 = wallClockMs();
      await running.kill("SIGKILL");
      workers.delete(running);
      await feed.next((r) => r.event.type === "turn.resumed" && r.event.turn === turn, 15_000);
      takeover.push(feed.receivedAt(turn, "turn.resumed")! - t0);
      await session.publish({ type: "cancel", turn });
      await feed.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
      await spawnWorker();
    }

    options.progress("peer: core NATS request/reply round trip");
    const peer = await natsRoundTrips(nats.url, params.cancels);

    const summaries = {
      cancel: summarize(cancel),
      tool: summarize(tool),
      takeover: summarize(takeover),
      peer: summarize(peer),
      cancelEcho: summarize(cancelEcho),
      cancelDirect: summarize(cancelDirect),
    };
    const row = (label: string, n: number, s: ReturnType<typeof summarize>, target?: number): Cell[] => [
      label,
      n,
      round(s.p50),
      round(s.p99),
      round(s.max),
      target,
      target === undefined ? "peer" : verdict(s.p99 <= target),
    ];
    const json = {
      scenario: "control",
      cancelP99Ms: round(summaries.cancel.p99),
      toolRoundTripP99Ms: round(summaries.tool.p99),
      takeoverP99Ms: round(summaries.takeover.p99),
      cancelP50Ms: round(summaries.cancel.p50),
      toolRoundTripP50Ms: round(summaries.tool.p50),
      takeoverP50Ms: round(summaries.takeover.p50),
      peerRequestReplyP50Ms: round(summaries.peer.p50),
      peerRequestReplyP99Ms: round(summaries.peer.p99),
      cancelDirectP50Ms: round(summaries.cancelDirect.p50),
      cancelDirectP99Ms: round(summaries.cancelDirect.p99),
      cancelEchoP50Ms: round(summaries.cancelEcho.p50),
      cancelEchoP99Ms: round(summaries.cancelEcho.p99),
      cancelVsPeerP50: round(summaries.cancel.p50 / summaries.peer.p50),
      toolVsPeerP50: round(summaries.tool.p50 / summaries.peer.p50),
      params: { ...params, leaseMs: LEASE_MS, workers: 2 },
    };
    return {
      json,
      tables: [
        {
          title: "control: latency (ms)",
          columns: ["path", "n", "p50", "p99", "max", "target p99", "verdict"],
          rows: [
            row("client cancel → agent ctx.signal", cancel.length, summaries.cancel, TARGETS.cancelP99Ms),
            row(
              "callClientTool → result (client answers at once)",
              tool.length,
              summaries.tool,
              TARGETS.toolRoundTripP99Ms,
            ),
            row(
              `worker SIGKILL → turn.resumed at client (lease ${LEASE_MS})`,
              takeover.length,
              summaries.takeover,
              TARGETS.takeoverP99Ms,
            ),
            row(
              "cancel stored directly (no gateway) → ctx.signal",
              cancelDirect.length,
              summaries.cancelDirect,
              TARGETS.cancelP99Ms,
            ),
            row("peer: core NATS request/reply", peer.length, summaries.peer),
            row("peer: client cancel → its own echo at the client", cancelEcho.length, summaries.cancelEcho),
          ],
          notes: [
            `cancel p50 = ${json.cancelVsPeerP50}× a raw NATS round trip; tool round trip p50 = ${json.toolVsPeerP50}×`,
            "cancel: client → gateway → JetStream store → worker's control feed (one ordered consumer) → AbortSignal.",
            "tool: KV create + tool.call store → gateway → client → tool.result → gateway KV CAS + store → worker.",
          ],
        },
      ],
    };
  } finally {
    await cleanup.run();
  }
}

function noteText(record: SessionRecord): unknown {
  return (record.event.data as { text?: unknown } | undefined)?.text;
}

/** The session's records as the client applies them, with the wall-clock time each arrived. */
function follow(session: SessionHandle) {
  const records: SessionRecord[] = [];
  const arrived = new Map<string, number>();
  const listeners = new Set<(r: SessionRecord) => void>();
  let wake: (() => void) | undefined;
  void (async () => {
    for await (const r of session.events()) {
      arrived.set(`${r.event.turn}:${r.event.type}`, wallClockMs());
      records.push(r);
      for (const l of listeners) l(r);
      wake?.();
    }
  })();
  return {
    records,
    onRecord: (l: (r: SessionRecord) => void) => listeners.add(l),
    receivedAt: (turn: string, type: string) => arrived.get(`${turn}:${type}`),
    async next(match: (r: SessionRecord) => boolean, timeoutMs = 10_000): Promise<SessionRecord> {
      const deadline = Date.now() + timeoutMs;
      let from = 0;
      for (;;) {
        for (; from < records.length; from++) if (match(records[from]!)) return records[from]!;
        if (Date.now() > deadline) throw new Error("timed out waiting for an event");
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

async function natsRoundTrips(url: string, n: number): Promise<number[]> {
  const server = await connect({ servers: url });
  const requester = await connect({ servers: url });
  try {
    server.subscribe("bench.echo", {
      callback: (_e, m) => {
        m.respond(m.data);
      },
    });
    await server.flush();
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = wallClockMs();
      await requester.request("bench.echo", "x", { timeout: 5000 });
      out.push(wallClockMs() - t0);
    }
    return out;
  } finally {
    await requester.close();
    await server.close();
  }
}
