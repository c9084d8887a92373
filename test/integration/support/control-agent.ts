import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createClient,
  memoryStorage,
  type PositionStorage,
  type SessionHandle,
  type ThreadlineClient,
} from "@threadline/client";
import type { SessionRecord } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { onTestFinished } from "vitest";
import WebSocket from "ws";
import { spawnService } from "./service-process.ts";
import { type ProcessStack, type Stack, testProcessStack } from "./stack.ts";
import type { TokenClaims } from "./tokens.ts";

const HERE = dirname(fileURLToPath(import.meta.url));

/** A pool worker in its own process (support/control-worker-process.ts). */
export interface WorkerProcess {
  readonly pid: number;
  readonly worker: string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startWorkerProcess(
  natsUrl: string,
  options: {
    worker: string;
    pool?: string;
    leaseMs?: number;
    orphanAfterMs?: number;
    agentId?: string;
    concurrency?: number;
    /** More environment for the worker (NATS_USER / NATS_PASS / PROVISION=false / a comma-separated NATS_URL). */
    env?: Record<string, string>;
  },
): Promise<WorkerProcess> {
  const service = await spawnService({
    name: `worker ${options.worker}`,
    command: process.execPath,
    args: ["--import", "tsx", resolve(HERE, "control-worker-process.ts")],
    env: {
      NATS_URL: natsUrl,
      WORKER: options.worker,
      POOL: options.pool ?? "assistant",
      AGENT_ID: options.agentId ?? "assistant",
      LEASE_MS: String(options.leaseMs ?? 1000),
      ...(options.orphanAfterMs === undefined ? {} : { ORPHAN_AFTER_MS: String(options.orphanAfterMs) }),
      ...(options.concurrency === undefined ? {} : { CONCURRENCY: String(options.concurrency) }),
      ...options.env,
    },
    readyEvent: "worker-ready",
    inheritStderr: true,
  });
  return { pid: service.pid, worker: options.worker, kill: service.signal };
}

/** `startWorkerProcess` for each of `names` (started together), SIGKILLed when the test finishes. */
export async function startWorkers(
  natsUrl: string,
  names: string[],
  options: Omit<Parameters<typeof startWorkerProcess>[1], "worker"> = {},
): Promise<WorkerProcess[]> {
  const workers = await Promise.all(names.map((worker) => startWorkerProcess(natsUrl, { ...options, worker })));
  for (const w of workers) onTestFinished(() => w.kill("SIGKILL"));
  return workers;
}

/** Of two workers, the one that runs the turn `start` (its `turn.start` record) and the other one. */
export function runnerOf(
  workers: WorkerProcess[],
  start: SessionRecord,
): { victim: WorkerProcess; survivor: WorkerProcess } {
  const name = (start.event.data as { worker: string }).worker;
  const victim = workers.find((w) => w.worker === name);
  const survivor = workers.find((w) => w !== victim);
  if (!victim || !survivor)
    throw new Error(`turn.start names worker ${name}, not one of ${workers.map((w) => w.worker)}`);
  return { victim, survivor };
}

/** A device `tab` of alice attached to `session` from the start, and the log of what it applies. */
export async function attachTab(
  stack: Parameters<typeof deviceClient>[0],
  session: string,
): Promise<{ tab: SessionHandle; log: SessionLog }> {
  const tab = await deviceClient(stack, "alice", "tab").attach(session, { from: "start" });
  return { tab, log: sessionLog(tab) };
}

/**
 * A process stack for one test, pool workers `workerNames` ({@link startWorkers} with `workerOptions`)
 * and alice's tab on `session` with its log.
 */
export async function workerSession(
  session: string,
  workerNames: string[],
  workerOptions: Omit<Parameters<typeof startWorkerProcess>[1], "worker">,
): Promise<{ stack: ProcessStack; workers: WorkerProcess[]; tab: SessionHandle; log: SessionLog }> {
  const stack = await testProcessStack();
  const workers = await startWorkers(stack.nats.url, workerNames, workerOptions);
  return { stack, workers, ...(await attachTab(stack, session)) };
}

/** Every event a client session handle applies, in order, with helpers to wait for one. */
export interface SessionLog {
  readonly records: SessionRecord[];
  next(match: (record: SessionRecord) => boolean, timeoutMs?: number): Promise<SessionRecord>;
  ofTurn(turn: string): SessionRecord[];
}

export function sessionLog(handle: SessionHandle): SessionLog {
  const records: SessionRecord[] = [];
  void (async () => {
    for await (const record of handle.events()) records.push(record);
  })().catch(() => {});
  return {
    records,
    next: (match, timeoutMs = 10_000) => waitFor(() => records.find(match), { timeoutMs }),
    ofTurn: (turn) => records.filter((r) => r.event.turn === turn),
  };
}

/** The text an assistant message accumulated from its `message.append` events. */
export function messageText(records: SessionRecord[], id: string): string {
  return records
    .filter((r) => r.event.type === "message.append" && r.event.ref === id)
    .map((r) => (r.event.data as { delta: string }).delta)
    .join("");
}

/** A client (one browser tab / device) of `sub` on the stack's gateway, closed when the test ends. */
export function deviceClient(
  stack: Pick<Stack, "token"> & { gateway: { url: string } },
  sub: string,
  device: string,
  options: { storage?: PositionStorage; role?: TokenClaims["role"] } = {},
): ThreadlineClient {
  const client = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub, ...(options.role === undefined ? {} : { role: options.role }) }),
    device,
    storage: options.storage ?? memoryStorage(),
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  onTestFinished(() => client.close());
  return client;
}

/** One device client of `sub` per name in `devices`, each attached to `session` from the start, in order. */
export async function attachDevices<const D extends readonly string[]>(
  stack: Parameters<typeof deviceClient>[0],
  session: string,
  devices: D,
  sub = "alice",
): Promise<{ -readonly [K in keyof D]: SessionHandle }> {
  const handles: SessionHandle[] = [];
  for (const device of devices) handles.push(await deviceClient(stack, sub, device).attach(session, { from: "start" }));
  return handles as { -readonly [K in keyof D]: SessionHandle };
}
