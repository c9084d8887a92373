import { encodedSize } from "./codec.ts";
import { isDeviceId, isParticipantId, isSessionId } from "./ids.ts";

/**
 * Presence: who is in a session right now. Writers (the gateway for users and
 * operators, the agent SDK for agents) keep one KV entry per participant
 * connection in the bucket `threadline-presence`; the presence service turns
 * the bucket's changes into `presence.*` events in the session's `sys` lane.
 * See PROTOCOL.md §16.
 */
export const DEFAULT_PRESENCE_BUCKET = "threadline-presence";

/** Participant id the presence service publishes as (`<prefix>.<session>.sys.system.presence`). */
export const PRESENCE_PARTICIPANT_ID = "presence";

export const PresenceEventType = {
  JOIN: "presence.join",
  UPDATE: "presence.update",
  LEAVE: "presence.leave",
} as const;
export type PresenceEventType = (typeof PresenceEventType)[keyof typeof PresenceEventType];

/**
 * Why a participant (or one of its connections) left:
 * `left` — it said so (detach, `leave()`); `closed` — its socket closed;
 * `timeout` — its heartbeats stopped; `crashed` — its NATS connection dropped
 * without a goodbye (server disconnect advisory).
 */
export const LeaveReason = { LEFT: "left", CLOSED: "closed", TIMEOUT: "timeout", CRASHED: "crashed" } as const;
export type LeaveReason = (typeof LeaveReason)[keyof typeof LeaveReason];
const LEAVE_REASONS: ReadonlySet<string> = new Set(Object.values(LeaveReason));

export function isLeaveReason(value: unknown): value is LeaveReason {
  return typeof value === "string" && LEAVE_REASONS.has(value);
}

/** Kinds that can be present (the `system` kind never is). */
export type PresenceKind = "user" | "agent" | "operator";
const PRESENCE_KINDS: ReadonlySet<string> = new Set(["user", "agent", "operator"]);

/** Encoded (JSON) size limit of `metadata`. Writers refuse larger metadata; the service ignores such entries. */
export const MAX_PRESENCE_METADATA_BYTES = 1024;
export const MAX_PRESENCE_NAME_LENGTH = 128;
export const MAX_PRESENCE_STATUS_LENGTH = 32;
/** Default writer heartbeat interval; an entry is expired after 3 intervals without one. */
export const DEFAULT_PRESENCE_HEARTBEAT_MS = 2000;
export const MIN_PRESENCE_HEARTBEAT_MS = 100;
export const MAX_PRESENCE_HEARTBEAT_MS = 60_000;
/** Heartbeat intervals without a heartbeat after which a connection times out. */
export const PRESENCE_EXPIRY_INTERVALS = 3;

const STATUS = /^[a-z][a-z0-9_-]*$/;

/** The NATS connection a writer heartbeats over; the presence service maps disconnect advisories with it. */
export interface PresenceNatsClient {
  /** `client_id` from the server's INFO (the `cid` in advisories). */
  clientId: number;
  /** `server_id` of the server the client is connected to. */
  serverId: string;
  serverName?: string;
}

/**
 * The JSON value of one presence KV entry (one participant connection).
 * Key: `<session>.<kind>.<participantId>.<connection>` (see {@link presenceKey}).
 */
export interface PresenceEntry {
  kind: PresenceKind;
  id: string;
  name?: string;
  /** The device (browser tab / app install) of users and operators. */
  device?: string;
  /** Unique per connection (socket id, agent `enter()` id). */
  connection: string;
  /** Open set, lowercase: `active`, `idle`, `thinking`, `busy`, … */
  status: string;
  /** When `status` was set, ms since the Unix epoch. */
  since: number;
  /** Small application data (≤ {@link MAX_PRESENCE_METADATA_BYTES} encoded). */
  metadata?: Record<string, unknown>;
  /** The writer's heartbeat interval, ms. */
  heartbeatMs: number;
  nats?: PresenceNatsClient;
  /** Set on a tombstone: the connection has gone, for this reason. */
  gone?: LeaveReason;
}

/** One connection of a present participant, as listed in presence events and views. */
export interface PresenceDevice {
  connection: string;
  device?: string;
  status: string;
  since: number;
}

/** A present participant: one per (kind, id), with every connection it holds. */
export interface PresenceMember {
  kind: PresenceKind;
  id: string;
  name?: string;
  /** The status of its most recently changed connection. */
  status: string;
  since: number;
  metadata?: Record<string, unknown>;
  devices: PresenceDevice[];
}

/** `data` of `presence.join` / `presence.update` / `presence.leave`; `reason` only on leave (then `devices` is empty). */
export interface PresenceEventData extends PresenceMember {
  reason?: LeaveReason;
}

export interface PresenceKey {
  session: string;
  kind: PresenceKind;
  id: string;
  connection: string;
}

/** `<session>.<kind>.<participantId>.<connection>`. Throws TypeError on invalid tokens. */
export function presenceKey(session: string, kind: PresenceKind, id: string, connection: string): string {
  if (!isSessionId(session)) throw new TypeError(`invalid session id: ${JSON.stringify(session)}`);
  if (!PRESENCE_KINDS.has(kind)) throw new TypeError(`invalid presence kind: ${JSON.stringify(kind)}`);
  if (!isParticipantId(id)) throw new TypeError(`invalid participant id: ${JSON.stringify(id)}`);
  if (!isParticipantId(connection)) throw new TypeError(`invalid connection id: ${JSON.stringify(connection)}`);
  return `${session}.${kind}.${id}.${connection}`;
}

export function parsePresenceKey(key: string): PresenceKey | undefined {
  const parts = key.split(".");
  if (parts.length !== 4) return undefined;
  const [session, kind, id, connection] = parts as [string, string, string, string];
  if (!isSessionId(session) || !PRESENCE_KINDS.has(kind) || !isParticipantId(id) || !isParticipantId(connection)) {
    return undefined;
  }
  return { session, kind: kind as PresenceKind, id, connection };
}

/** Why `entry` is not a valid presence value for `key`, or undefined when it is. */
export function presenceEntryProblem(entry: unknown, key: PresenceKey): string | undefined {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return "value is not a JSON object";
  const e = entry as Record<string, unknown>;
  if (e.kind !== key.kind || e.id !== key.id || e.connection !== key.connection) {
    return "kind/id/connection do not match the key";
  }
  if (e.name !== undefined && (typeof e.name !== "string" || e.name.length > MAX_PRESENCE_NAME_LENGTH)) {
    return `name must be a string of at most ${MAX_PRESENCE_NAME_LENGTH} characters`;
  }
  if (e.device !== undefined && !isDeviceId(e.device)) return "invalid device id";
  const statusProblem = presenceStatusProblem(e.status);
  if (statusProblem) return statusProblem;
  if (typeof e.since !== "number" || !Number.isFinite(e.since)) return "since must be a number";
  if (
    typeof e.heartbeatMs !== "number" ||
    !Number.isInteger(e.heartbeatMs) ||
    e.heartbeatMs < MIN_PRESENCE_HEARTBEAT_MS ||
    e.heartbeatMs > MAX_PRESENCE_HEARTBEAT_MS
  ) {
    return `heartbeatMs must be an integer in [${MIN_PRESENCE_HEARTBEAT_MS}, ${MAX_PRESENCE_HEARTBEAT_MS}]`;
  }
  const metadataProblem = presenceMetadataProblem(e.metadata);
  if (metadataProblem) return metadataProblem;
  if (e.nats !== undefined) {
    const n = e.nats as Record<string, unknown> | null;
    if (typeof n !== "object" || n === null || !Number.isSafeInteger(n.clientId) || typeof n.serverId !== "string") {
      return "nats must be {clientId: integer, serverId: string}";
    }
  }
  if (e.gone !== undefined && !isLeaveReason(e.gone)) return "gone must be a leave reason";
  return undefined;
}

/** Why `status` is not a valid presence status, or undefined. */
export function presenceStatusProblem(status: unknown): string | undefined {
  if (typeof status !== "string" || status.length > MAX_PRESENCE_STATUS_LENGTH || !STATUS.test(status)) {
    return `status must be a lowercase word ([a-z][a-z0-9_-]*) of at most ${MAX_PRESENCE_STATUS_LENGTH} characters`;
  }
  return undefined;
}

/** Why `metadata` is not acceptable presence metadata (not a plain object, or too large), or undefined. */
export function presenceMetadataProblem(metadata: unknown): string | undefined {
  if (metadata === undefined) return undefined;
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    return "metadata must be a JSON object";
  }
  let size: number;
  try {
    size = encodedSize(metadata);
  } catch {
    return "metadata cannot be encoded";
  }
  if (size > MAX_PRESENCE_METADATA_BYTES) {
    return `metadata of ${size} bytes exceeds ${MAX_PRESENCE_METADATA_BYTES}`;
  }
  return undefined;
}

/**
 * The event id of the presence event caused by the KV entry with `revision`
 * (stored under the dedupe key `<session>/<id>`, dedupe.ts): every presence service replica derives the same id
 * from the same bucket change, so the stream stores each transition once.
 */
export function presenceEventId(revision: number, type: PresenceEventType): string {
  return `presence-${revision}-${type.slice("presence.".length)}`;
}

/** Applies a presence event to a member map keyed by `<kind>.<id>` (client and agent views). */
export function applyPresenceEvent(
  members: Map<string, PresenceMember>,
  type: string,
  data: unknown,
): PresenceMember | undefined {
  if (type !== PresenceEventType.JOIN && type !== PresenceEventType.UPDATE && type !== PresenceEventType.LEAVE) {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const d = data as PresenceEventData;
  if (!PRESENCE_KINDS.has(d.kind) || !isParticipantId(d.id)) return undefined;
  const key = `${d.kind}.${d.id}`;
  if (type === PresenceEventType.LEAVE) {
    members.delete(key);
    return d;
  }
  const member: PresenceMember = {
    kind: d.kind,
    id: d.id,
    status: d.status,
    since: d.since,
    devices: Array.isArray(d.devices) ? d.devices : [],
  };
  if (d.name !== undefined) member.name = d.name;
  if (d.metadata !== undefined) member.metadata = d.metadata;
  members.set(key, member);
  return member;
}
