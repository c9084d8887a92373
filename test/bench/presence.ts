import { connectAgent } from "@threadline/agent";
import { decodeMsgpack, type EventFrame, encodeMsgpack, type PresenceEventData } from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";
import WebSocket from "ws";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { startAgentProcess } from "../integration/support/presence.ts";
import { RawSocket } from "../integration/support/raw-socket.ts";
import { type ServiceProcess, spawnService } from "../integration/support/service-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import type { Scenario, ScenarioOptions, ScenarioResult } from "./scenario.ts";
import { round, summarize, wallClockMs } from "./stats.ts";
import type { Cell } from "./table.ts";
import { verdict } from "./table.ts";
import { killOnExit } from "./worker-process.ts";

const SESSION = "bench-presence";
const TARGETS = { closeP99Ms: 100, sigkillP99Ms: 1000, leaveP99Ms: 100, silentP99Ms: 10_000 };
const HEARTBEAT_MS = 2000;
/** Gateway WebSocket idle timeout for this run (the default is 60 s): what bounds a silently dead browser. */
const IDLE_TIMEOUT_S = 8;

/**
 * Presence latency: from the cause to the `presence.leave` seen by a client
 * attached to the session through the gateway. The gateway and two presence
 * replicas run as their own processes against a nats-server with a system
 * account. Causes: a socket closed by its client, an agent process SIGKILLed
 * (disconnect advisory), an agent's graceful `leave()`, and an agent that goes
 * silent (SIGSTOP: no FIN, its NATS connection stays open, so only heartbeat
 * expiry can find it — which is also the detection path of a crashed agent
 * when no system account is configured, the baseline of the SIGKILL row),
 * and a socket that silently stops reading (no FIN, no pong), which only the
 * gateway's WebSocket idle timeout finds (set to 8 s here; default 60 s).
 * Afterwards the stored session is checked: every participant must have
 * exactly one join and one leave, the observer one join (`falseEvents` counts
 * everything else, including duplicates from the two replicas).
 */
export const presence: Scenario = {
  name: "presence",
  description: "leave latency (socket close, agent SIGKILL, graceful leave, silent agent) seen by an attached client",
  flags: {
    trials: "trials of close / leave (default 50, quick 15)",
    kills: "agent processes SIGKILLed, one after another (default 20, quick 5)",
    silent: "agents silenced at once, detected by heartbeat expiry (default 10, quick 3)",
  },
  run,
};

async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const params = {
    trials: options.overrides.trials ?? (options.quick ? 15 : 50),
    kills: options.overrides.kills ?? (options.quick ? 5 : 20),
    silent: options.overrides.silent ?? (options.quick ? 3 : 10),
  };
  const cleanup = new Cleanup();
  try {
    options.progress("starting nats-server (system account), gateway, two presence replicas");
    const nats = await startNatsServer({ systemAccount: true });
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    const users = nats.users!;
    const gateway = await spawnGateway(nats.url, {
      THREADLINE_GATEWAY_ID: "bench-gateway",
      NATS_USER: users.app.user,
      NATS_PASS: users.app.pass,
      THREADLINE_PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
      THREADLINE_LIMIT_IDLE_TIMEOUT_SECONDS: String(IDLE_TIMEOUT_S),
    });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());
    for (const id of ["p1", "p2"]) {
      const replica = await spawnPresence(nats.url, id, users);
      cleanup.deferProcess(`presence ${id}`, replica.pid, () => replica.signal("SIGTERM"));
    }

    const observerToken = await mintToken({ sub: "observer" });
    const seen = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    // Timestamps are taken in the WebSocket message callback itself.
    const observer = await observe(gateway.url, observerToken, (frame) => {
      if (!frame.event.type.startsWith("presence.")) return;
      const data = frame.event.data as PresenceEventData;
      const key = `${frame.event.type}:${data.id}`;
      if (!seen.has(key)) seen.set(key, wallClockMs());
      waiters.get(key)?.();
    });
    cleanup.defer("observer", () => observer.close());
    const seenAt = (type: string, id: string, timeoutMs = 20_000): Promise<number> => {
      const key = `${type}:${id}`;
      const at = seen.get(key);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${key} within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(key, () => {
          clearTimeout(timer);
          waiters.delete(key);
          resolvePromise(seen.get(key)!);
        });
      });
    };

    options.progress(`socket close: ${params.trials} trials`);
    const close: number[] = [];
    for (let i = 0; i < params.trials; i++) {
      const id = `tab${i}`;
      const socket = await RawSocket.connect(gateway.url, await mintToken({ sub: id }), { device: "d" });
      await socket.request({ op: "attach", session: SESSION, from: "now" });
      await seenAt("presence.join", id);
      const t0 = wallClockMs();
      await socket.close();
      close.push((await seenAt("presence.leave", id)) - t0);
    }

    options.progress(`graceful leave: ${params.trials} trials`);
    const leave: number[] = [];
    const agent = await connectAgent({ servers: nats.url, ...users.app, id: "bench-agent", provision: false });
    cleanup.defer("agent", () => agent.close());
    for (let i = 0; i < params.trials; i++) {
      const a = await connectAgent({ servers: nats.url, ...users.app, id: `polite${i}`, info: agent.info });
      const p = a.presence(SESSION, { heartbeatMs: HEARTBEAT_MS });
      await p.enter();
      await seenAt("presence.join", `polite${i}`);
      const t0 = wallClockMs();
      await p.leave();
      leave.push((await seenAt("presence.leave", `polite${i}`)) - t0);
      await a.close();
    }

    options.progress(`agent SIGKILL: ${params.kills} processes`);
    const sigkill: number[] = [];
    for (let i = 0; i < params.kills; i++) {
      const id = `doomed${i}`;
      const child = await startAgentProcess(nats, { id, session: SESSION, heartbeatMs: HEARTBEAT_MS });
      const forget = killOnExit(child.pid);
      await seenAt("presence.join", id);
      const t0 = wallClockMs();
      process.kill(child.pid, "SIGKILL");
      sigkill.push((await seenAt("presence.leave", id)) - t0);
      await child.kill("SIGKILL");
      forget();
    }

    options.progress(`silent agents: ${params.silent} SIGSTOPped at once (heartbeat ${HEARTBEAT_MS} ms)`);
    const silentChildren = await Promise.all(
      Array.from({ length: params.silent }, (_, i) =>
        startAgentProcess(nats, { id: `silent${i}`, session: SESSION, heartbeatMs: HEARTBEAT_MS }),
      ),
    );
    for (const child of silentChildren) {
      cleanup.deferProcess("silent agent", child.pid, () => child.kill("SIGKILL"));
    }
    await Promise.all(silentChildren.map((_, i) => seenAt("presence.join", `silent${i}`)));
    const t0 = wallClockMs();
    for (const child of silentChildren) process.kill(child.pid, "SIGSTOP");
    const silent = (
      await Promise.all(silentChildren.map((_, i) => seenAt("presence.leave", `silent${i}`, 30_000)))
    ).map((at) => at - t0);

    options.progress(
      `silent sockets: ${params.silent} stop reading at once (gateway idle timeout ${IDLE_TIMEOUT_S} s)`,
    );
    const mutes = await Promise.all(
      Array.from({ length: params.silent }, async (_, i) =>
        observe(gateway.url, await mintToken({ sub: `mute${i}` }), () => {}, `mute${i}`),
      ),
    );
    for (const ws of mutes) cleanup.defer("silent socket", () => ws.terminate());
    await Promise.all(mutes.map((_, i) => seenAt("presence.join", `mute${i}`)));
    const tMute = wallClockMs();
    // No FIN and no pong: the socket just stops reading, like a browser on a dead network.
    for (const ws of mutes) ws.pause();
    const silentSocket = (await Promise.all(mutes.map((_, i) => seenAt("presence.leave", `mute${i}`, 60_000)))).map(
      (at) => at - tMute,
    );

    options.progress("checking the stored session for false or duplicate events");
    const expected = new Map<string, string[]>();
    const reasons: Record<string, string> = {};
    for (let i = 0; i < params.trials; i++) reasons[`tab${i}`] = "closed";
    for (let i = 0; i < params.trials; i++) reasons[`polite${i}`] = "left";
    for (let i = 0; i < params.kills; i++) reasons[`doomed${i}`] = "crashed";
    for (let i = 0; i < params.silent; i++) reasons[`silent${i}`] = "timeout";
    for (let i = 0; i < params.silent; i++) reasons[`mute${i}`] = "closed";
    for (const [id, reason] of Object.entries(reasons)) expected.set(id, ["presence.join", `presence.leave:${reason}`]);
    expected.set("observer", ["presence.join"]);
    const actual = new Map<string, string[]>();
    for await (const r of agent.history(SESSION)) {
      const data = r.event.data as PresenceEventData;
      const list = actual.get(data.id) ?? [];
      list.push(r.event.type === "presence.leave" ? `presence.leave:${data.reason}` : r.event.type);
      actual.set(data.id, list);
    }
    let falseEvents = 0;
    for (const id of new Set([...expected.keys(), ...actual.keys()])) {
      const want = expected.get(id) ?? [];
      const got = actual.get(id) ?? [];
      let matched = 0;
      for (let i = 0; i < Math.min(want.length, got.length); i++) if (want[i] === got[i]) matched++;
      falseEvents += got.length - matched + (want.length - matched);
    }

    const rows: [string, number[], number][] = [
      ["socket close (gateway tombstone)", close, TARGETS.closeP99Ms],
      ["agent graceful leave()", leave, TARGETS.leaveP99Ms],
      ["agent SIGKILL (disconnect advisory)", sigkill, TARGETS.sigkillP99Ms],
      [`silent agent (heartbeat expiry, ${HEARTBEAT_MS} ms × 3)`, silent, TARGETS.silentP99Ms],
      [`silent socket (gateway idle timeout ${IDLE_TIMEOUT_S} s)`, silentSocket, TARGETS.silentP99Ms],
    ];
    const summaries = rows.map(([, values]) => summarize(values));
    const tableRows: Cell[][] = rows.map(([label, values, target], i) => {
      const s = summaries[i]!;
      return [label, values.length, round(s.p50), round(s.p99), round(s.max), target, verdict(s.p99 <= target)];
    });
    const json = {
      scenario: "presence",
      closeP99Ms: round(summaries[0]!.p99),
      leaveP99Ms: round(summaries[1]!.p99),
      sigkillP99Ms: round(summaries[2]!.p99),
      silentP99Ms: round(Math.max(summaries[3]!.p99, summaries[4]!.p99)),
      falseEvents,
      closeP50Ms: round(summaries[0]!.p50),
      leaveP50Ms: round(summaries[1]!.p50),
      sigkillP50Ms: round(summaries[2]!.p50),
      silentAgentP99Ms: round(summaries[3]!.p99),
      silentSocketP99Ms: round(summaries[4]!.p99),
      params: { ...params, heartbeatMs: HEARTBEAT_MS, idleTimeoutSeconds: IDLE_TIMEOUT_S, replicas: 2 },
    };
    return {
      json,
      tables: [
        {
          title: "presence: cause → presence.leave at an attached client (ms)",
          columns: ["cause", "n", "p50", "p99", "max", "target p99", "verdict"],
          rows: tableRows,
          notes: [
            `false or duplicate presence events in the stored session (2 replicas): ${falseEvents} ${verdict(falseEvents === 0)}`,
            "Baseline: without a system account a SIGKILLed agent is found like the silent one (heartbeat expiry row).",
          ],
        },
      ],
    };
  } finally {
    await cleanup.run();
  }
}

/** A presence replica process (application and system account users), once it printed its ready line. */
function spawnPresence(
  natsUrl: string,
  id: string,
  users: { app: { user: string; pass: string }; sys: { user: string; pass: string } },
): Promise<ServiceProcess> {
  return spawnService({
    name: `presence ${id}`,
    command: process.execPath,
    args: ["--import", "tsx", "services/presence/src/main.ts"],
    env: {
      NATS_URL: natsUrl,
      NATS_USER: users.app.user,
      NATS_PASS: users.app.pass,
      NATS_SYS_USER: users.sys.user,
      NATS_SYS_PASS: users.sys.pass,
      THREADLINE_PRESENCE_ID: id,
      THREADLINE_PRESENCE_PORT: "-1",
      LOG_LEVEL: "warn",
    },
    readyEvent: "presence-ready",
    inheritStderr: true,
  });
}

/** A bare WebSocket client attached to SESSION from `now`, calling `onEvent` for every event frame it receives. */
async function observe(
  url: string,
  token: string,
  onEvent: (frame: EventFrame) => void,
  device = "observer",
): Promise<WebSocket> {
  const ws = new WebSocket(url, ["threadline.v1"]);
  ws.binaryType = "nodebuffer";
  await new Promise<void>((resolvePromise, reject) => {
    ws.once("open", () => resolvePromise());
    ws.once("error", reject);
  });
  let attached: () => void = () => {};
  const isAttached = new Promise<void>((r) => {
    attached = r;
  });
  ws.on("message", (data: Buffer) => {
    const frame = decodeMsgpack(new Uint8Array(data)) as EventFrame | { op: string };
    if (frame.op === "attached") attached();
    if (frame.op === "event") onEvent(frame as EventFrame);
  });
  ws.send(encodeMsgpack({ op: "hello", token, device }));
  ws.send(encodeMsgpack({ op: "attach", rid: 1, session: SESSION, from: "now" }));
  await isAttached;
  return ws;
}
