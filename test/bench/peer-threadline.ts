import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { DEFAULT_STREAM_NAME, DEFAULT_SUBJECT_PREFIX, sessionOfSubject } from "@threadline/protocol";
import { findNatsServer, startNatsServer } from "@threadline/test-kit";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { Cleanup } from "./cleanup.ts";
import { GatewaySocket } from "./gateway-socket.ts";
import type { PeerSystem, RunningPeer } from "./peer-system.ts";
import { fillSession, resumeThroughGateway, SESSION } from "./resume.ts";
import { startWorker } from "./worker-process.ts";

/** Longest a live write phase may take beyond its duration (the agent settles its acks). */
const WRITE_GRACE_MS = 60_000;

/**
 * Threadline as users run it: its gateway process on a real nats-server
 * (JetStream file storage, the server's default sync: every 2 minutes, not per
 * write), readers over WebSocket with the `threadline.v1` msgpack protocol
 * (`gateway-socket.ts`), the writer an agent process publishing with
 * `@threadline/agent` (`agent-publisher.ts`). The resume fill is resume.ts's
 * (`noise` events of other sessions interleaved per 100, as in production
 * where one stream holds every session). The nats-server binary is
 * `NATS_SERVER_BIN` when set (`--nats-bin`), else the one on the PATH.
 */
export function threadlineSystem(options: { noise: number }): PeerSystem {
  return {
    name: "threadline",
    role: "subject",
    durability: {
      storage: "file",
      fsync: "every 2 min (nats-server sync_interval default), not per write; acked once written to the OS",
      survivesProcessCrash: true,
      resumable: true,
    },
    start: () => startThreadline(options.noise),
  };
}

async function startThreadline(noise: number): Promise<RunningPeer> {
  const cleanup = new Cleanup();
  try {
    const nats = await startNatsServer();
    cleanup.deferProcess("nats-server", nats.pid, () => nats.stop());
    // PEERS_CPU_PROF=DIR: the gateway and the agent write their V8 CPU profiles into DIR when they exit.
    const profileDir = process.env.PEERS_CPU_PROF;
    const preload = fileURLToPath(new URL("./cpu-profile.ts", import.meta.url));
    const profiled: Record<string, string> = profileDir
      ? { NODE_OPTIONS: `--import tsx --import ${preload}`, CPU_PROFILE_DIR: profileDir }
      : {};
    const gateway = await spawnGateway(nats.url, { THREADLINE_GATEWAY_ID: "bench-peers", ...profiled });
    cleanup.deferProcess("gateway", gateway.pid, () => gateway.stop());
    const publisher = await startWorker(fileURLToPath(new URL("./agent-publisher.ts", import.meta.url)), {
      NATS_URL: nats.url,
      ...profiled,
    });
    cleanup.defer("agent publisher", () => publisher.stop());
    const tokens = new Map<string, string>();
    const bin = findNatsServer();
    const version = bin ? execFileSync(bin, ["--version"], { encoding: "utf8" }).trim() : "external";
    return {
      processes: [
        { name: "gateway", pid: gateway.pid },
        { name: "nats-server", pid: nats.pid! },
      ],
      writerPid: publisher.pid,
      description: `gateway + ${version} (${bin ?? "NATS_URL"}), JetStream file storage, noise ${noise}/100`,
      async fill(count) {
        const { seqs, ids, epoch } = await fillSession(nats.url, count, noise);
        const token = await mintToken({ sub: "bench-resume-user", grants: [{ session: SESSION, can: ["read"] }] });
        return {
          positions: seqs,
          read: (seq) => resumeThroughGateway(gateway.url, token, SESSION, { epoch, seq, id: ids.get(seq) }),
        };
      },
      async createStreams(names) {
        // One user per session (gateways limit sockets per user), as delivery.ts does.
        for (const name of names)
          tokens.set(name, await mintToken({ sub: `user-${name}`, grants: [{ session: name, can: ["read"] }] }));
      },
      async openReader(stream, onEvent) {
        const token = tokens.get(stream);
        if (!token) throw new Error(`no token for ${stream}: createStreams first`);
        const socket = await GatewaySocket.connect(gateway.url, token, (frame, at) =>
          onEvent(frame.seq, (frame.event.data as { t?: number } | undefined)?.t, at),
        );
        await socket.attach(stream, "now");
        return {
          get isOpen() {
            return socket.isOpen && socket.unexpected === 0;
          },
          close: () => socket.close(),
        };
      },
      storedAt: (streams, positions) => storedTimes(nats.url, streams, positions),
      async write(streams, ratePerStream, durationMs) {
        publisher.send({ type: "start", sessions: streams, ratePerSession: ratePerStream, durationMs });
        const done = await publisher.next("done", durationMs + WRITE_GRACE_MS);
        const schedule = done.schedule as { maxLagMs: number };
        return {
          stored: done.stored as number[][],
          unstored: (done.failed as number) + (done.skipped as number) + (done.unsettled as number),
          notes: [
            `agent: ${done.failed} failed, ${done.skipped} skipped, ${done.unsettled} unacknowledged; ` +
              `publish→ack p50 ${done.storeP50Ms} / p99 ${done.storeP99Ms} ms; ` +
              `generator lag max ${Math.round(schedule.maxLagMs)} ms`,
            ...(Object.keys(done.errors as object).length > 0
              ? [`agent errors: ${JSON.stringify(groupErrors(done.errors as Record<string, number>))}`]
              : []),
          ],
        };
      },
      stop: () => cleanup.run(),
    };
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}

/**
 * When nats-server stored each of `positions[i]` (seqs) of session
 * `streams[i]`: the timestamp it keeps with every message (its wall clock
 * at store time, ms), read after the run with one headers-only ordered
 * consumer over the stream from the lowest seq to the highest.
 */
async function storedTimes(url: string, streams: string[], positions: number[][]): Promise<Map<number, number>[]> {
  const result = streams.map(() => new Map<number, number>());
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const seqs of positions) {
    for (const seq of seqs) {
      if (seq < first) first = seq;
      if (seq > last) last = seq;
    }
  }
  if (last === 0) return result;
  const index = new Map(streams.map((name, i) => [name, i]));
  const nc = await connect({ servers: url });
  try {
    const consumer = await jetstream(nc).consumers.get(DEFAULT_STREAM_NAME, {
      filter_subjects: `${DEFAULT_SUBJECT_PREFIX}.>`,
      opt_start_seq: first,
      headers_only: true,
    });
    const messages = await consumer.consume({ max_messages: 4096 });
    for await (const m of messages) {
      const i = index.get(sessionOfSubject(m.subject));
      if (i !== undefined) result[i]!.set(m.seq, m.info.timestampNanos / 1e6);
      if (m.seq >= last || m.info.pending === 0) break;
    }
    await messages.close();
    return result;
  } finally {
    await nc.close();
  }
}

/** Error counts by message with the numbers in it (queue sizes, bytes) replaced by N, so a table note stays short. */
function groupErrors(errors: Record<string, number>): Record<string, number> {
  const grouped: Record<string, number> = {};
  for (const [message, count] of Object.entries(errors)) {
    const key = message.replace(/\d+/g, "N");
    grouped[key] = (grouped[key] ?? 0) + count;
  }
  return grouped;
}
