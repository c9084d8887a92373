// Over 400 lines on purpose: one benchmark scenario (token streaming, per-token vs batched) with both writers, the catch-up and the report.
import {
  type Agent,
  connectAgent,
  MESSAGE_WRITER_DEFAULTS,
  type MessagePublisher,
  type MessageWriter,
  startMessage,
} from "@threadline/agent";
import {
  type AttachHistory,
  applyMessageEvent,
  decodeMsgpack,
  emptyMessageState,
  encodeMsgpack,
  type SessionEvent,
  utf8Length,
} from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";
import WebSocket from "ws";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import { ProcessSampler } from "./process-sampler.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { LatencyRecorder, round } from "./stats.ts";
import { verdict } from "./table.ts";

const TARGETS = { reductionX: 10, addedP99Ms: 20, compactBytesRatio: 0.2 };
/** Every token is 5 characters, so a delta's length says which tokens it carries. */
const TOKEN_CHARS = 5;
const token = (i: number) => `${String(i % 10_000).padStart(4, "0")} `;
const MAX_SESSIONS_PER_SOCKET = 100;

/**
 * Token streaming through the whole path: agent message writer → NATS
 * JetStream → gateway (own process) → WebSocket client.
 *
 * 1. Per-token publishing (`flushMs: 0`) vs batching at the writer's default
 *    window, for many concurrent responses each streaming at a steady token
 *    rate: stored `message.append` records per response-second; the writer
 *    delay (`append` call → handed to the publish queue: the time a token
 *    spends in the writer, p99 — `addedP99Ms` is batched minus per-token) and the
 *    end-to-end latency (scheduled time → frame at the client, p50/p99);
 *    event bytes on the wire per token; CPU of gateway, nats-server and the
 *    bench process (agent + client). Two rows with the same total token rate:
 *    `--rate` tokens/s per response, and 50 tokens/s (the slow end of real
 *    models) with proportionally more responses.
 * 2. Catch-up of a long session from the start — stored one event per token
 *    (as the batched writer stores a model at ≤ 50 tokens/s) and stored by the
 *    default writer from a model at `--rate` (fewer, larger appends) — with
 *    `history: "full"` vs `"compact"`: bytes on the wire and time to
 *    `synced`, median of alternating repetitions; both views are checked equal.
 */
export const streaming: Scenario = {
  name: "streaming",
  description: "token streaming: per-token vs batched writer (records, latency, bytes); compact vs full catch-up",
  flags: {
    responses: "concurrent responses at --rate (default 10, quick 5); the 50 tokens/s row runs rate/50 times more",
    rate: "tokens/s per response of the headline row (default 500)",
    seconds: "streaming time per mode and row (default 10, quick 3)",
    replies: "replies in the long session for the catch-up (default 60, quick 20)",
    tokens: "tokens per reply (default 300, quick 150)",
    repeats: "catch-up repetitions per mode (default 5, quick 3)",
  },
  run,
};

interface StreamRow {
  rate: number;
  responses: number;
  mode: "per-token" | "batched";
  recordsPerResponseSecond: number;
  p50: number;
  p99: number;
  max: number;
  bytesPerToken: number;
  tokens: number;
  /** Writer delay of a token (`append` call → handed to the publish queue), p99 and max. */
  writerP99: number;
  writerMax: number;
  /** Average CPU over the row, % of one core. */
  gatewayCpu: number;
  natsCpu: number;
  benchCpu: number;
}

async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const p = {
    responses: options.overrides.responses ?? (options.quick ? 5 : 10),
    rate: options.overrides.rate ?? 500,
    seconds: options.overrides.seconds ?? (options.quick ? 3 : 10),
    replies: options.overrides.replies ?? (options.quick ? 20 : 60),
    tokens: options.overrides.tokens ?? (options.quick ? 150 : 300),
    repeats: options.overrides.repeats ?? (options.quick ? 3 : 5),
  };
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server and a gateway process");
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    const gateway = await spawnGateway(nats.url, { THREADLINE_GATEWAY_ID: "bench-streaming" });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());
    const agent = await connectAgent({ servers: nats.url, id: "bench-streamer" });
    cleanup.defer("agent", () => agent.close());
    const tokenFor = await mintToken({ sub: "reader" });

    const rows: StreamRow[] = [];
    const slowResponses = Math.max(1, Math.round((p.responses * p.rate) / 50));
    for (const [rate, responses] of [
      [p.rate, p.responses],
      [50, slowResponses],
    ] as const) {
      for (const mode of ["per-token", "batched"] as const) {
        options.progress(`${mode}: ${responses} responses × ${rate} tokens/s for ${p.seconds} s`);
        rows.push(
          await streamRow(
            agent,
            gateway.url,
            tokenFor,
            { rate, responses, mode, seconds: p.seconds },
            {
              gateway: gateway.pid,
              nats: nats.pid,
            },
          ),
        );
      }
    }

    options.progress(`long session: ${p.replies} replies × ${p.tokens} tokens, one event per token`);
    const session = `bench-long-${process.pid}`;
    for (let r = 0; r < p.replies; r++) {
      await agent.publish(session, { type: "input", data: { text: `question ${r}` } }, { lane: "in" });
      const writer = startMessage(agent, session, { flushMs: 0, turn: `t${r}` });
      for (let i = 0; i < p.tokens; i++) await writer.append(token(i));
      await writer.end();
    }
    // The same replies as the default writer stores them from a model streaming at --rate: its window
    // holds rate × flushMs / 1000 tokens, so each append carries that many (a byte cap of exactly that
    // many tokens and a window longer than the reply reproduce the shape without waiting in real time).
    const tokensPerAppend = Math.max(1, Math.round((p.rate * MESSAGE_WRITER_DEFAULTS.flushMs) / 1000));
    options.progress(`long session, batched storage: ${tokensPerAppend} tokens per append (${p.rate} tokens/s)`);
    const batchedSession = `bench-long-batched-${process.pid}`;
    for (let r = 0; r < p.replies; r++) {
      await agent.publish(batchedSession, { type: "input", data: { text: `question ${r}` } }, { lane: "in" });
      const maxBytes = tokensPerAppend * utf8Length(token(0));
      const writer = startMessage(agent, batchedSession, { turn: `t${r}`, flushMs: 3_600_000, maxBytes });
      for (let i = 0; i < p.tokens; i++) await writer.append(token(i));
      await writer.end();
    }
    const measureCatchUp = async (target: string) => {
      const runs: Record<AttachHistory, { bytes: number[]; ms: number[]; events: number; view: string }> = {
        full: { bytes: [], ms: [], events: 0, view: "" },
        compact: { bytes: [], ms: [], events: 0, view: "" },
      };
      for (let i = 0; i < p.repeats; i++) {
        for (const history of i % 2 === 0 ? (["full", "compact"] as const) : (["compact", "full"] as const)) {
          const result = await replay(gateway.url, tokenFor, target, history);
          runs[history].bytes.push(result.bytes);
          runs[history].ms.push(result.ms);
          runs[history].events = result.events;
          runs[history].view = result.view;
        }
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      return {
        full: { bytes: median(runs.full.bytes), ms: median(runs.full.ms), events: runs.full.events },
        compact: { bytes: median(runs.compact.bytes), ms: median(runs.compact.ms), events: runs.compact.events },
        sameView: runs.full.view === runs.compact.view,
      };
    };
    const perTokenCatchUp = await measureCatchUp(session);
    const batchedCatchUp = await measureCatchUp(batchedSession);
    const { full, compact, sameView } = perTokenCatchUp;

    const head = (mode: StreamRow["mode"]) => rows.find((r) => r.rate === p.rate && r.mode === mode)!;
    const slow = (mode: StreamRow["mode"]) => rows.find((r) => r.rate === 50 && r.mode === mode)!;
    const reductionX = head("per-token").recordsPerResponseSecond / head("batched").recordsPerResponseSecond;
    // What batching adds: the writer-added delay (window + slot wait), batched minus per-token. The
    // end-to-end difference is reported too; on a loaded machine it is dominated by queueing noise.
    const addedP99Ms = head("batched").writerP99 - head("per-token").writerP99;
    const endToEndAddedP99Ms = head("batched").p99 - head("per-token").p99;
    const slowReduction = slow("per-token").recordsPerResponseSecond / slow("batched").recordsPerResponseSecond;
    const compactBytesRatio = compact.bytes / full.bytes;
    const compactTimeRatio = compact.ms / full.ms;
    const batchedBytesRatio = batchedCatchUp.compact.bytes / batchedCatchUp.full.bytes;
    const json = {
      scenario: "streaming",
      recordsPerSecondBatched: round(head("batched").recordsPerResponseSecond),
      recordsPerSecondPerToken: round(head("per-token").recordsPerResponseSecond),
      reductionX: round(reductionX),
      addedP99Ms: round(addedP99Ms),
      endToEndAddedP99Ms: round(endToEndAddedP99Ms),
      compactBytesRatio: round(compactBytesRatio),
      compactTimeRatio: round(compactTimeRatio),
      compactBytesRatioBatchedStorage: round(batchedBytesRatio),
      tokensPerSecondPerResponse: p.rate,
      responses: p.responses,
      flushMs: MESSAGE_WRITER_DEFAULTS.flushMs,
      at50TokensPerSecond: {
        responses: slowResponses,
        recordsPerSecondBatched: round(slow("batched").recordsPerResponseSecond),
        recordsPerSecondPerToken: round(slow("per-token").recordsPerResponseSecond),
        reductionX: round(slowReduction),
        addedP99Ms: round(slow("batched").writerP99 - slow("per-token").writerP99),
        endToEndAddedP99Ms: round(slow("batched").p99 - slow("per-token").p99),
      },
      rows: rows.map((r) => ({
        tokensPerSecond: r.rate,
        responses: r.responses,
        mode: r.mode,
        recordsPerResponseSecond: round(r.recordsPerResponseSecond),
        p50Ms: round(r.p50),
        p99Ms: round(r.p99),
        writerDelayP99Ms: round(r.writerP99),
        wireBytesPerToken: round(r.bytesPerToken),
        gatewayCpuPercent: round(r.gatewayCpu),
        natsCpuPercent: round(r.natsCpu),
      })),
      catchUp: {
        replies: p.replies,
        tokensPerReply: p.tokens,
        fullBytes: full.bytes,
        compactBytes: compact.bytes,
        fullMs: round(full.ms),
        compactMs: round(compact.ms),
        fullEvents: full.events,
        compactEvents: compact.events,
        sameView,
        batchedStorage: {
          tokensPerSecond: p.rate,
          tokensPerAppend,
          fullBytes: batchedCatchUp.full.bytes,
          compactBytes: batchedCatchUp.compact.bytes,
          fullMs: round(batchedCatchUp.full.ms),
          compactMs: round(batchedCatchUp.compact.ms),
          fullEvents: batchedCatchUp.full.events,
          compactEvents: batchedCatchUp.compact.events,
          bytesRatio: round(batchedBytesRatio),
          timeRatio: round(batchedCatchUp.compact.ms / batchedCatchUp.full.ms),
          sameView: batchedCatchUp.sameView,
        },
      },
    };
    return {
      json,
      tables: [
        {
          title: `Streaming: per-token vs batched (flushMs ${MESSAGE_WRITER_DEFAULTS.flushMs}), ${p.seconds} s per row`,
          columns: [
            "tokens/s",
            "responses",
            "mode",
            "records/response-s",
            "writer delay p99 ms",
            "end-to-end p50 ms",
            "p99 ms",
            "max ms",
            "wire bytes/token",
            "tokens",
            "gateway CPU %",
            "nats CPU %",
            "agent+client CPU %",
          ],
          rows: rows.map((r) => [
            r.rate,
            r.responses,
            r.mode,
            round(r.recordsPerResponseSecond),
            round(r.writerP99),
            round(r.p50),
            round(r.p99),
            round(r.max),
            round(r.bytesPerToken),
            r.tokens,
            round(r.gatewayCpu),
            round(r.natsCpu),
            round(r.benchCpu),
          ]),
          notes: [
            `reduction at ${p.rate} tokens/s: ${round(reductionX)}× (target ≥ ${TARGETS.reductionX}: ${verdict(reductionX >= TARGETS.reductionX)})`,
            `added p99 at ${p.rate} tokens/s (writer delay, batched − per-token): ${round(addedP99Ms)} ms (target ≤ ${TARGETS.addedP99Ms}: ${verdict(addedP99Ms <= TARGETS.addedP99Ms)}); end-to-end p99 difference ${round(endToEndAddedP99Ms)} ms`,
            `reduction at 50 tokens/s: ${round(slowReduction)}× — bounded by the window: a ${MESSAGE_WRITER_DEFAULTS.flushMs} ms window holds ≤ 1 token every 20 ms`,
          ],
        },
        {
          title: `Catch-up from the start: ${p.replies} replies × ${p.tokens} tokens (median of ${p.repeats})`,
          columns: ["stored as", "history", "events", "bytes", "time to synced ms"],
          rows: [
            ["one event per token", "full", full.events, full.bytes, round(full.ms)],
            ["one event per token", "compact", compact.events, compact.bytes, round(compact.ms)],
            [
              `batched, ${p.rate} tokens/s`,
              "full",
              batchedCatchUp.full.events,
              batchedCatchUp.full.bytes,
              round(batchedCatchUp.full.ms),
            ],
            [
              `batched, ${p.rate} tokens/s`,
              "compact",
              batchedCatchUp.compact.events,
              batchedCatchUp.compact.bytes,
              round(batchedCatchUp.compact.ms),
            ],
          ],
          notes: [
            `bytes ratio, one event per token: ${round(compactBytesRatio)} (target ≤ ${TARGETS.compactBytesRatio}: ${verdict(compactBytesRatio <= TARGETS.compactBytesRatio)}), time ratio ${round(compactTimeRatio)}`,
            `bytes ratio, batched storage: ${round(batchedBytesRatio)} (target ≤ ${TARGETS.compactBytesRatio}: ${verdict(batchedBytesRatio <= TARGETS.compactBytesRatio)}), time ratio ${round(batchedCatchUp.compact.ms / batchedCatchUp.full.ms)}`,
            `materialized views equal: ${sameView && batchedCatchUp.sameView ? "yes" : "NO"}`,
          ],
        },
      ],
    };
  } finally {
    await cleanup.run();
  }
}

/** Streams `responses` messages at `rate` tokens/s each for `seconds`, read back through the gateway. */
async function streamRow(
  agent: Agent,
  url: string,
  jwt: string,
  row: { rate: number; responses: number; mode: StreamRow["mode"]; seconds: number },
  pids: { gateway: number; nats: number | undefined },
): Promise<StreamRow> {
  const perResponse = Math.max(1, Math.round(row.rate * row.seconds));
  const sessions = Array.from({ length: row.responses }, (_, i) => `bench-${row.mode}-${row.rate}-${process.pid}-${i}`);
  const sentAt = sessions.map(() => new Float64Array(perResponse));
  const appendAt = sessions.map(() => new Float64Array(perResponse));
  const delivered = new Map(sessions.map((s) => [s, 0]));
  const index = new Map(sessions.map((s, i) => [s, i]));
  const latency = new LatencyRecorder();
  // Writer delay: from the `append` call to the moment the writer hands the event carrying the token
  // to the agent's publish queue — the time a token spends inside the writer (the batching window and
  // waiting for an in-flight slot). Per-token publishing's backpressure (the generator held back until
  // the previous token's ack) shows in the end-to-end latency, which starts at the scheduled time.
  const writerDelay = new LatencyRecorder();
  const handedOff = sessions.map(() => 0);
  const publisher: MessagePublisher = {
    id: agent.id,
    kind: agent.kind,
    publish(session, event) {
      if (event.type === "message.append") {
        const at = performance.timeOrigin + performance.now();
        const r = index.get(session)!;
        const n = (event.data as { delta: string }).delta.length / TOKEN_CHARS;
        for (let k = handedOff[r]!; k < handedOff[r]! + n; k++) writerDelay.record(at - appendAt[r]![k]!);
        handedOff[r]! += n;
      }
      return agent.publish(session, event);
    },
  };
  let appends = 0;
  let wireBytes = 0;
  const sockets: Reader[] = [];
  for (let i = 0; i < sessions.length; i += MAX_SESSIONS_PER_SOCKET) {
    const reader = await Reader.open(url, jwt, (event, bytes, at, session) => {
      if (event.type !== "message.append") return;
      appends++;
      wireBytes += bytes;
      const n = (event.data as { delta: string }).delta.length / TOKEN_CHARS;
      const first = delivered.get(session)!;
      const times = sentAt[index.get(session)!]!;
      for (let k = first; k < first + n; k++) latency.record(at - times[k]!);
      delivered.set(session, first + n);
    });
    sockets.push(reader);
    for (const s of sessions.slice(i, i + MAX_SESSIONS_PER_SOCKET)) await reader.attach(s, "now", "full");
  }
  const sampler = new ProcessSampler();
  sampler.watch("gateway", pids.gateway);
  sampler.watch("nats-server", pids.nats);
  sampler.watch("bench", process.pid);
  sampler.start();
  let usage: ReturnType<ProcessSampler["stop"]> = [];
  try {
    const interval = 1000 / row.rate;
    const start = performance.now() + 20;
    await Promise.all(
      sessions.map(async (session, r) => {
        const writer: MessageWriter = startMessage(publisher, session, {
          ...(row.mode === "per-token" ? { flushMs: 0 } : {}),
        });
        // Responses start spread over one token interval, then emit on a steady schedule.
        const offset = (interval * r) / sessions.length;
        for (let k = 0; k < perResponse; k++) {
          const due = start + offset + k * interval;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          // The token's time is its scheduled time: a generator held back by backpressure (per-token
          // publishing waiting for acks) delays the token as much as a batching window does.
          sentAt[r]![k] = performance.timeOrigin + due;
          appendAt[r]![k] = performance.timeOrigin + performance.now();
          await writer.append(token(k));
        }
        await writer.end();
      }),
    );
    const deadline = performance.now() + 30_000;
    while ([...delivered.values()].some((n) => n < perResponse)) {
      if (performance.now() > deadline) throw new Error("tokens not delivered within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    usage = sampler.stop();
  } finally {
    if (usage.length === 0) sampler.stop();
    await Promise.all(sockets.map((s) => s.close()));
  }
  const summary = latency.summary();
  const delay = writerDelay.summary();
  const tokens = perResponse * row.responses;
  return {
    rate: row.rate,
    responses: row.responses,
    mode: row.mode,
    recordsPerResponseSecond: appends / (row.responses * row.seconds),
    p50: summary.p50,
    p99: summary.p99,
    max: summary.max,
    bytesPerToken: wireBytes / tokens,
    tokens,
    writerP99: delay.p99,
    writerMax: delay.max,
    gatewayCpu: usage.find((u) => u.name === "gateway")?.cpuPercent ?? Number.NaN,
    natsCpu: usage.find((u) => u.name === "nats-server")?.cpuPercent ?? Number.NaN,
    benchCpu: usage.find((u) => u.name === "bench")?.cpuPercent ?? Number.NaN,
  };
}

/** Attaches from the start with `history`; counts frames and bytes until `synced` and folds the messages. */
async function replay(
  url: string,
  jwt: string,
  session: string,
  history: AttachHistory,
): Promise<{ bytes: number; ms: number; events: number; view: string }> {
  let state = emptyMessageState();
  let bytes = 0;
  let events = 0;
  const reader = await Reader.open(url, jwt, (event, size, _at, _session, seq) => {
    bytes += size;
    events++;
    state = applyMessageEvent(state, { seq, event });
  });
  try {
    const t0 = performance.now();
    await reader.attach(session, "start", history);
    const ms = performance.now() - t0;
    return { bytes, ms, events, view: JSON.stringify(state.messages) };
  } finally {
    await reader.close();
  }
}

type OnEvent = (event: SessionEvent, bytes: number, receivedAt: number, session: string, seq: number) => void;

/** A minimal msgpack client: hello, attach (with `history`), events with their frame size and arrival time. */
class Reader {
  private rid = 0;
  private readonly waiters = new Map<string, (frame: Record<string, unknown>) => void>();

  private constructor(
    private readonly ws: WebSocket,
    onEvent: OnEvent,
  ) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => {
      const at = performance.timeOrigin + performance.now();
      const frame = decodeMsgpack(data) as Record<string, unknown>;
      if (frame.op === "event") {
        onEvent(frame.event as SessionEvent, data.byteLength, at, frame.session as string, frame.seq as number);
      } else {
        const key = frame.op === "synced" ? `synced:${frame.session}` : `${frame.op}:${frame.rid ?? ""}`;
        const waiter =
          this.waiters.get(key) ?? (frame.rid !== undefined ? this.waiters.get(`rid:${frame.rid}`) : undefined);
        waiter?.(frame);
      }
    });
  }

  static async open(url: string, jwt: string, onEvent: OnEvent): Promise<Reader> {
    const ws = new WebSocket(url, ["threadline.v1"], { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const reader = new Reader(ws, onEvent);
    const welcome = reader.wait("welcome:");
    ws.send(encodeMsgpack({ op: "hello", token: jwt }));
    await welcome;
    return reader;
  }

  async attach(session: string, from: unknown, history: AttachHistory): Promise<void> {
    const rid = ++this.rid;
    const synced = this.wait(`synced:${session}`);
    const reply = this.wait(`rid:${rid}`);
    this.ws.send(encodeMsgpack({ op: "attach", rid, session, from, history }));
    const attached = await reply;
    if (attached.op !== "attached") throw new Error(`attach failed: ${JSON.stringify(attached)}`);
    await synced;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once("close", () => resolve());
      this.ws.close(1000);
    });
  }

  private wait(key: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${key} within 60 s`)), 60_000);
      this.waiters.set(key, (frame) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(frame);
      });
    });
  }
}
