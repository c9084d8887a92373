import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createPresenceService, loadPresenceConfig, type PresenceService } from "@threadline/presence";
import { decodeMsgpack, type PresenceEventData, type SessionEvent } from "@threadline/protocol";
import type { NatsServer } from "@threadline/test-kit";
import { pino } from "pino";
import { onTestFinished } from "vitest";
import { type EventLog, eventLog } from "./event-log.ts";
import { spawnService } from "./service-process.ts";

const HERE = dirname(fileURLToPath(import.meta.url));

/** NATS connect options of the application account (the server may or may not have a system account). */
export function appAuth(nats: NatsServer): { servers: string; user?: string; pass?: string } {
  return nats.users ? { servers: nats.url, ...nats.users.app } : { servers: nats.url };
}

/**
 * An in-process presence service with its own NATS connections (application
 * account, plus the system account when the server has one).
 */
export interface RunningPresence extends AsyncDisposable {
  service: PresenceService;
  /** The service's application-account connection. */
  nc: NatsConnection;
  /** Stops the service and closes its connections. Idempotent. */
  close(): Promise<void>;
}

export async function startPresence(nats: NatsServer, env: Record<string, string> = {}): Promise<RunningPresence> {
  const nc = await connect({ ...appAuth(nats), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const sys = nats.users ? await connect({ servers: nats.url, ...nats.users.sys }) : undefined;
  const config = loadPresenceConfig({
    NATS_URL: nats.url,
    THREADLINE_PRESENCE_PORT: "-1",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...env,
  });
  const service = await createPresenceService(config, {
    nc,
    ...(sys ? { sys } : {}),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await service.close();
      await nc.close();
      await sys?.close();
    })();
    return closed;
  };
  return { service, nc, close, [Symbol.asyncDispose]: close };
}

/** An in-process presence service and the presence events of `session`, both stopped when the test finishes. */
export async function watchPresence(
  nats: NatsServer,
  session: string,
): Promise<{ presence: RunningPresence; log: PresenceEventLog }> {
  const presence = await startPresence(nats);
  onTestFinished(() => presence.close());
  const log = presenceEventLog(presence.nc, session);
  onTestFinished(() => log.stop());
  return { presence, log };
}

export type PresenceEvent = SessionEvent<PresenceEventData>;

/** Presence events of one session as they are stored, seen live through the stream's republish. */
export interface PresenceEventLog extends Pick<EventLog<PresenceEvent>, "events" | "next"> {
  stop(): void;
}

export function presenceEventLog(nc: NatsConnection, session: string): PresenceEventLog {
  const log = eventLog<PresenceEvent>("presence event");
  const sub = nc.subscribe(`live.tl.${session}.sys.system.presence`, {
    callback: (_error, msg) => log.push(decodeMsgpack(msg.data) as PresenceEvent),
  });
  return { events: log.events, next: log.next, stop: () => sub.unsubscribe() };
}

/** An agent in its own process that enters presence in `session` and stays until killed. */
export interface AgentProcess {
  readonly pid: number;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startAgentProcess(
  nats: NatsServer,
  options: { id: string; session: string; heartbeatMs?: number },
): Promise<AgentProcess> {
  const auth = appAuth(nats);
  const service = await spawnService({
    name: `agent ${options.id}`,
    command: process.execPath,
    args: ["--import", "tsx", resolve(HERE, "presence-agent-process.ts")],
    env: {
      NATS_URL: auth.servers,
      NATS_USER: auth.user ?? "",
      NATS_PASS: auth.pass ?? "",
      AGENT_ID: options.id,
      SESSION: options.session,
      HEARTBEAT_MS: String(options.heartbeatMs ?? 2000),
    },
    readyEvent: "agent-present",
    inheritStderr: true,
  });
  return { pid: service.pid, kill: service.signal };
}
