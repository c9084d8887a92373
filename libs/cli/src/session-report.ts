// Over 400 lines on purpose: one report (inspect) whose anomaly rules read the same folded session, turns, presence and buckets.
import {
  type ControlCallEntry,
  type ControlOwnerEntry,
  type ControlTurnEntry,
  isFinalTurnStatus,
  PRESENCE_EXPIRY_INTERVALS,
  type PresenceEntry,
  parseControlKey,
  parsePresenceKey,
  presenceEntryProblem,
  turnLiveness,
} from "@threadline/protocol";
import type { KvRecord } from "./kv-entries.ts";
import type { SessionHistory } from "./session-history.ts";

export interface ReportInput {
  session: string;
  now: number;
  stream: { name: string; epoch: string; lastSeq: number };
  history: SessionHistory;
  presence: KvRecord[];
  cursors: KvRecord[];
  /** Entries of the control bucket; undefined when the bucket does not exist (or could not be read). */
  control: KvRecord[] | undefined;
  /** Buckets that could not be read (e.g. no permission), with why. */
  unreadable?: { bucket: string; reason: string }[];
  /** A request (input / turn.request) older than this without turn.start is reported. Default 30 s. */
  unstartedAfterMs?: number;
  /**
   * Turns whose control entry has no `leaseUntil` (an SDK that does not renew it): a running turn older
   * than this whose worker is not present is reported. Default 10 s. Entries with `leaseUntil` are judged
   * by it alone (`turnLiveness`).
   */
  orphanAfterMs?: number;
}

export interface ConnectionReport {
  connection: string;
  device?: string;
  status: string;
  since: number;
  lastWrite: number;
  /** Not rewritten for more than 3 heartbeats (and not yet expired by the presence service). */
  stale: boolean;
}

export interface MemberReport {
  kind: string;
  id: string;
  name?: string;
  connections: ConnectionReport[];
}

export interface TurnReport {
  id: string;
  /** The `turn.end` status once stored; before that the control bucket's, else the events'. */
  status: string;
  eventStatus: string;
  controlStatus?: string;
  agent?: string;
  worker?: string;
  parent?: string;
  requestSeq?: number;
  startSeq?: number;
  endSeq?: number;
  resumes: number;
  messages: number;
}

export interface CursorReport {
  user: string;
  device: string;
  epoch: string;
  seq: number;
  /** When the gateway last wrote it, ms. */
  ts: number;
  /** Events of the session stored after the cursor (undefined when the cursor is from another epoch). */
  behind?: number;
}

export interface Anomaly {
  kind:
    | "turn-orphaned"
    | "turn-unstarted"
    | "turn-state-mismatch"
    | "message-open"
    | "cursor-ahead"
    | "cursor-other-epoch"
    | "presence-stale"
    | "call-overdue"
    | "invalid-events"
    | "invalid-entries";
  message: string;
}

export interface SessionReport {
  session: string;
  stream: { name: string; epoch: string; lastSeq: number };
  events: { count: number; invalid: number; firstSeq?: number; lastSeq?: number; lastStored?: string };
  owner: ControlOwnerEntry["owner"] | "unknown";
  present: MemberReport[];
  /** Authors of stored events that are not present now. */
  absent: { kind: string; id: string; events: number; lastSeq: number }[];
  turns: TurnReport[];
  /** Streamed messages (distinct `message.*` refs), their `message.*` events, and user inputs. */
  messages: { count: number; open: number; byStatus: Record<string, number>; events: number; inputs: number };
  calls: { id: string; kind: string; turn: string; status: string; deadline: number }[];
  cursors: CursorReport[];
  anomalies: Anomaly[];
  /** Buckets that could not be read: their part of the report is missing. */
  unreadable: { bucket: string; reason: string }[];
}

const DEFAULT_UNSTARTED_AFTER_MS = 30_000;
const DEFAULT_ORPHAN_AFTER_MS = 10_000;
/** Grace on top of 3 heartbeats before a live presence entry counts as stale (the service checks every 250 ms). */
const STALE_GRACE_MS = 1000;

/**
 * Whether a live presence entry written at `written` has outlived its heartbeats: the presence
 * service should have expired it, so its writer is gone (or no presence service is running).
 */
export function isStalePresence(entry: Pick<PresenceEntry, "heartbeatMs">, written: number, now: number): boolean {
  return now - written > PRESENCE_EXPIRY_INTERVALS * entry.heartbeatMs + STALE_GRACE_MS;
}

/** What the report stages found wrong: anomalies, and bucket keys whose entries are unusable. */
interface Findings {
  anomalies: Anomaly[];
  invalidKeys: string[];
}

/** Builds the `inspect` report: state from the events and the buckets, and everything that looks wrong. */
export function buildReport(input: ReportInput): SessionReport {
  const { history } = input;
  const found: Findings = { anomalies: [], invalidKeys: [] };
  const members = presenceReport(input, found);
  const presentIds = new Set([...members.values()].filter((m) => m.connections.some((c) => !c.stale)).map((m) => m.id));
  const control = controlReport(input, found);
  const turns = turnReports(input, control.turns, { ids: presentIds, workers: presentWorkers(input) }, found);
  const messages = messageReport(history, presentIds, found);
  const cursors = cursorReports(input, found);
  if (history.invalid > 0) {
    found.anomalies.push({
      kind: "invalid-events",
      message: `${history.invalid} stored message(s) of the session are not valid event envelopes (clients never see them)`,
    });
  }
  const { invalidKeys } = found;
  if (invalidKeys.length > 0) {
    found.anomalies.push({
      kind: "invalid-entries",
      message: `${invalidKeys.length} bucket entr${invalidKeys.length === 1 ? "y is" : "ies are"} invalid and ignored: ${invalidKeys.slice(0, 5).join(", ")}`,
    });
  }

  const absent = [...history.authors.values()]
    .filter((a) => a.kind !== "system" && !members.has(`${a.kind}:${a.id}`))
    .map((a) => ({ kind: a.kind, id: a.id, events: a.events, lastSeq: a.lastSeq }));
  const events: SessionReport["events"] = { count: history.events, invalid: history.invalid };
  if (history.firstSeq !== undefined) events.firstSeq = history.firstSeq;
  if (history.lastSeq !== undefined) events.lastSeq = history.lastSeq;
  if (history.lastStored !== undefined) events.lastStored = history.lastStored.toISOString();
  return {
    session: input.session,
    stream: input.stream,
    events,
    owner: control.owner,
    present: [...members.values()],
    absent,
    turns: turns.sort((a, b) => (a.requestSeq ?? a.startSeq ?? 0) - (b.requestSeq ?? b.startSeq ?? 0)),
    messages,
    calls: control.calls,
    cursors,
    anomalies: found.anomalies,
    unreadable: input.unreadable ?? [],
  };
}

/** Live (non-tombstone) presence connections grouped per participant (`kind:id`). */
function presenceReport(input: ReportInput, found: Findings): Map<string, MemberReport> {
  const { session, now } = input;
  const { anomalies, invalidKeys } = found;
  const members = new Map<string, MemberReport>();
  for (const record of input.presence) {
    const key = parsePresenceKey(record.key);
    if (!key || key.session !== session || presenceEntryProblem(record.value, key)) {
      invalidKeys.push(record.key);
      continue;
    }
    const entry = record.value as PresenceEntry;
    if (entry.gone !== undefined) continue;
    const memberKey = `${key.kind}:${key.id}`;
    const member = members.get(memberKey) ?? { kind: key.kind, id: key.id, connections: [] };
    if (entry.name !== undefined) member.name = entry.name;
    const stale = isStalePresence(entry, record.written, now);
    const connection: ConnectionReport = {
      connection: key.connection,
      status: entry.status,
      since: entry.since,
      lastWrite: record.written,
      stale,
    };
    if (entry.device !== undefined) connection.device = entry.device;
    member.connections.push(connection);
    members.set(memberKey, member);
    if (stale) {
      anomalies.push({
        kind: "presence-stale",
        message: `${memberKey} connection ${key.connection} was last written ${age(now - record.written)} ago (heartbeat ${entry.heartbeatMs} ms) and is still listed: is the presence service running?`,
      });
    }
  }
  return members;
}

/** Worker ids (`metadata.worker`) of live, fresh presence connections: pool workers enter while running turns. */
function presentWorkers(input: ReportInput): Set<string> {
  const workers = new Set<string>();
  for (const record of input.presence) {
    const entry = (record.value ?? {}) as Partial<PresenceEntry>;
    const worker = entry.metadata?.worker;
    if (typeof worker !== "string" || entry.gone !== undefined || typeof entry.heartbeatMs !== "number") continue;
    if (!isStalePresence({ heartbeatMs: entry.heartbeatMs }, record.written, input.now)) workers.add(worker);
  }
  return workers;
}

/** The control bucket's turns, calls and owner. */
function controlReport(
  input: ReportInput,
  found: Findings,
): { turns: Map<string, ControlTurnEntry>; calls: SessionReport["calls"]; owner: SessionReport["owner"] } {
  const { session, now } = input;
  const { anomalies, invalidKeys } = found;
  const controlTurns = new Map<string, ControlTurnEntry>();
  const calls: SessionReport["calls"] = [];
  let owner: SessionReport["owner"] = input.control === undefined ? "unknown" : null;
  for (const record of input.control ?? []) {
    const key = parseControlKey(record.key);
    if (!key || key.session !== session || typeof record.value !== "object" || record.value === null) {
      invalidKeys.push(record.key);
      continue;
    }
    if (key.kind === "turn") controlTurns.set(key.turn, record.value as ControlTurnEntry);
    else if (key.kind === "owner") owner = (record.value as ControlOwnerEntry).owner ?? null;
    else {
      const call = record.value as ControlCallEntry;
      calls.push({ id: key.call, kind: call.kind, turn: call.turn, status: call.status, deadline: call.deadline });
      if (call.status === "pending" && typeof call.deadline === "number" && call.deadline < now) {
        anomalies.push({
          kind: "call-overdue",
          message: `${call.kind} call ${key.call} of turn ${call.turn} is still pending ${age(now - call.deadline)} after its deadline`,
        });
      }
    }
  }

  return { turns: controlTurns, calls, owner };
}

/** Turns: the events joined with the control bucket. */
function turnReports(
  input: ReportInput,
  controlTurns: Map<string, ControlTurnEntry>,
  present: { ids: ReadonlySet<string>; workers: ReadonlySet<string> },
  found: Findings,
): TurnReport[] {
  const { now, history } = input;
  const { anomalies } = found;
  const turns: TurnReport[] = [];
  const ids = new Set([...history.turns.keys(), ...controlTurns.keys()]);
  for (const id of ids) {
    const h = history.turns.get(id);
    const c = controlTurns.get(id);
    const turn: TurnReport = {
      id,
      // A stored turn.end is final; otherwise the control bucket is the fresher source.
      status: h?.endSeq !== undefined ? h.status : (c?.status ?? h?.status ?? "unknown"),
      eventStatus: h?.status ?? "no events",
      resumes: h?.resumes ?? 0,
      messages: h?.messages ?? 0,
    };
    if (c) turn.controlStatus = c.status;
    const agent = h?.agent ?? c?.agent;
    const worker = h?.worker ?? c?.worker;
    if (agent !== undefined) turn.agent = agent;
    if (worker !== undefined) turn.worker = worker;
    if (h?.parent ?? c?.parent) turn.parent = (h?.parent ?? c?.parent) as string;
    if (h?.requestSeq !== undefined) turn.requestSeq = h.requestSeq;
    if (h?.startSeq !== undefined) turn.startSeq = h.startSeq;
    if (h?.endSeq !== undefined) turn.endSeq = h.endSeq;
    turns.push(turn);

    const ended = h?.endSeq !== undefined;
    if (c && h && isFinalTurnStatus(c.status) && !ended && h.status !== "pending") {
      anomalies.push({
        kind: "turn-state-mismatch",
        message: `turn ${id} is ${c.status} in the control bucket but no turn.end was stored`,
      });
    }
    if (c && ended && !isFinalTurnStatus(c.status)) {
      anomalies.push({
        kind: "turn-state-mismatch",
        message: `turn ${id} ended (turn.end at seq ${h?.endSeq}) but the control bucket still says ${c.status}`,
      });
    }
    const running = !ended && (h?.status === "running" || c?.status === "running");
    const orphan = running ? orphanProblem(id, input, h, c, worker, agent, present) : undefined;
    if (orphan) anomalies.push({ kind: "turn-orphaned", message: orphan });
    const requested = h?.requestTs;
    if (
      h &&
      h.status === "pending" &&
      (c === undefined || c.status === "pending") &&
      requested !== undefined &&
      now - requested > (input.unstartedAfterMs ?? DEFAULT_UNSTARTED_AFTER_MS)
    ) {
      anomalies.push({
        kind: "turn-unstarted",
        message: `turn ${id} (seq ${h.requestSeq}) was requested ${age(now - requested)} ago and has not started: no worker of ${h.agent ?? "an entry pool"} picked it up`,
      });
    }
  }

  return turns;
}

/**
 * Why a running turn has no live worker, or undefined. An entry with `leaseUntil` says it by itself: the
 * worker renews it while it runs, whatever else ran in the session since (regression, issue 13: a later
 * turn's agent presence hid the orphan). Without it, presence is the hint: the turn's worker
 * (`metadata.worker` of a presence connection, or a participant of that id) — not the pool's agent id,
 * which every later turn of the pool makes present again.
 */
function orphanProblem(
  id: string,
  input: ReportInput,
  h: { startTs?: number; agentParticipant?: string } | undefined,
  c: ControlTurnEntry | undefined,
  worker: string | undefined,
  agent: string | undefined,
  present: { ids: ReadonlySet<string>; workers: ReadonlySet<string> },
): string | undefined {
  const { now } = input;
  const liveness = c ? turnLiveness(c, now) : "unknown";
  if (liveness === "alive") return undefined;
  if (liveness === "orphaned" && c?.leaseUntil !== undefined) {
    return `turn ${id} is running but its worker ${worker ?? "unknown"} stopped renewing its lease ${age(now - c.leaseUntil)} ago: the worker is gone (a live worker of pool ${agent ?? "unknown"} ends it, PROTOCOL.md §17.6)`;
  }
  const runningSince = h?.startTs ?? c?.updatedAt ?? now;
  if (now - runningSince <= (input.orphanAfterMs ?? DEFAULT_ORPHAN_AFTER_MS)) return undefined;
  const candidates = worker !== undefined ? [worker] : [h?.agentParticipant, agent].filter((x) => x !== undefined);
  if (candidates.some((x) => present.ids.has(x) || present.workers.has(x))) return undefined;
  return `turn ${id} has been running for ${age(now - runningSince)} but its ${worker !== undefined ? "worker" : "agent"} (${candidates.join(", ") || "unknown"}) has no presence in the session: the worker may be gone`;
}

/** Streamed messages by status; open ones whose turn ended or whose agent left are anomalies. */
function messageReport(
  history: SessionHistory,
  presentIds: ReadonlySet<string>,
  found: Findings,
): SessionReport["messages"] {
  const { anomalies } = found;
  const byStatus: Record<string, number> = {};
  let open = 0;
  for (const m of history.messages.values()) {
    const status = m.status ?? "open";
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    if (m.status !== undefined) continue;
    open++;
    const turn = m.turn === undefined ? undefined : history.turns.get(m.turn);
    const publisherId = m.publisher.slice(m.publisher.indexOf(":") + 1);
    if (turn?.endSeq !== undefined) {
      anomalies.push({
        kind: "message-open",
        message: `message ${m.id} (seq ${m.startSeq}) never ended although its turn ${m.turn} ended at seq ${turn.endSeq}`,
      });
    } else if (!presentIds.has(publisherId) && m.publisher.startsWith("agent:")) {
      anomalies.push({
        kind: "message-open",
        message: `message ${m.id} (seq ${m.startSeq}) is open but its publisher ${m.publisher} is not present`,
      });
    }
  }

  return { count: history.messages.size, open, byStatus, events: history.messageEvents, inputs: history.inputs };
}

/** Device cursors and how far behind each is. */
function cursorReports(input: ReportInput, found: Findings): CursorReport[] {
  const { session, history } = input;
  const { anomalies, invalidKeys } = found;
  const cursors: CursorReport[] = [];
  for (const record of input.cursors) {
    const parts = record.key.split(".");
    const value = record.value as { epoch?: unknown; seq?: unknown; ts?: unknown } | null;
    if (
      parts.length !== 3 ||
      parts[0] !== session ||
      typeof value?.epoch !== "string" ||
      typeof value.seq !== "number" ||
      typeof value.ts !== "number"
    ) {
      invalidKeys.push(record.key);
      continue;
    }
    const cursor: CursorReport = {
      user: parts[1] as string,
      device: parts[2] as string,
      epoch: value.epoch,
      seq: value.seq,
      ts: value.ts,
    };
    const who = `${cursor.user}/${cursor.device}`;
    if (value.epoch !== input.stream.epoch) {
      anomalies.push({
        kind: "cursor-other-epoch",
        message: `cursor of ${who} is from epoch ${value.epoch}, the stream is at ${input.stream.epoch}: the device restarts from the beginning`,
      });
    } else if (value.seq > input.stream.lastSeq) {
      anomalies.push({
        kind: "cursor-ahead",
        message: `cursor of ${who} is at seq ${value.seq}, beyond the stream's last seq ${input.stream.lastSeq}`,
      });
    } else {
      cursor.behind = history.eventsAfter(value.seq);
    }
    cursors.push(cursor);
  }

  return cursors;
}

/** A short human duration: `850ms`, `12s`, `4m05s`, `3h12m`, `2d4h`. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}
