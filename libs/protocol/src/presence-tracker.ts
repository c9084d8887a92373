import {
  type LeaveReason,
  type PresenceDevice,
  type PresenceEntry,
  type PresenceEventData,
  PresenceEventType,
  type PresenceKey,
  type PresenceMember,
} from "./presence.ts";

/** A membership transition of one participant in one session. */
export interface PresenceTransition {
  session: string;
  type: PresenceEventType;
  data: PresenceEventData;
}

interface TrackedParticipant {
  kind: PresenceEntry["kind"];
  id: string;
  connections: Map<string, PresenceEntry>;
}

/**
 * Turns per-connection presence entries into per-participant transitions
 * (pure, no I/O; the presence service and the agent SDK share it):
 * - the first connection of a participant → `presence.join`;
 * - another connection added or removed, or a connection's status, name,
 *   device or metadata changed → `presence.update` (devices listed);
 * - the last connection removed → `presence.leave` with the reason;
 * - a heartbeat (the same value written again) → nothing.
 * Removing an unknown connection is a no-op, so replays are harmless.
 */
export class PresenceTracker {
  private readonly sessions = new Map<string, Map<string, TrackedParticipant>>();
  private connectionCount = 0;

  /** Connections currently tracked, over all sessions. */
  get size(): number {
    return this.connectionCount;
  }

  /** Applies a put of a live (not `gone`) entry. */
  put(key: PresenceKey, entry: PresenceEntry): PresenceTransition | undefined {
    let participants = this.sessions.get(key.session);
    if (!participants) {
      participants = new Map();
      this.sessions.set(key.session, participants);
    }
    const pkey = `${key.kind}.${key.id}`;
    let participant = participants.get(pkey);
    const isNew = participant === undefined;
    if (!participant) {
      participant = { kind: key.kind, id: key.id, connections: new Map() };
      participants.set(pkey, participant);
    }
    const previous = participant.connections.get(key.connection);
    participant.connections.set(key.connection, entry);
    if (!previous) this.connectionCount++;
    if (previous && sameVisibleState(previous, entry)) return undefined;
    return {
      session: key.session,
      type: isNew ? PresenceEventType.JOIN : PresenceEventType.UPDATE,
      data: summarize(participant),
    };
  }

  /** Applies the removal of a connection (tombstone or KV delete). */
  remove(key: PresenceKey, reason: LeaveReason): PresenceTransition | undefined {
    const participants = this.sessions.get(key.session);
    const pkey = `${key.kind}.${key.id}`;
    const participant = participants?.get(pkey);
    const last = participant?.connections.get(key.connection);
    if (!participants || !participant || !last) return undefined;
    participant.connections.delete(key.connection);
    this.connectionCount--;
    if (participant.connections.size > 0) {
      return { session: key.session, type: PresenceEventType.UPDATE, data: summarize(participant) };
    }
    participants.delete(pkey);
    if (participants.size === 0) this.sessions.delete(key.session);
    const data: PresenceEventData = { ...memberFields(last), devices: [], reason };
    return { session: key.session, type: PresenceEventType.LEAVE, data };
  }

  /** The tracked entry of a connection. */
  get(key: PresenceKey): PresenceEntry | undefined {
    return this.sessions.get(key.session)?.get(`${key.kind}.${key.id}`)?.connections.get(key.connection);
  }

  /** The members of a session (empty when nobody is there). */
  members(session: string): PresenceMember[] {
    const participants = this.sessions.get(session);
    return participants ? [...participants.values()].map(summarize) : [];
  }

  /** Whether the session has at least one connection of a participant of `kind`. */
  hasKind(session: string, kind: PresenceEntry["kind"]): boolean {
    for (const p of this.sessions.get(session)?.values() ?? []) if (p.kind === kind) return true;
    return false;
  }

  /** Sessions with at least one member. */
  sessionIds(): IterableIterator<string> {
    return this.sessions.keys();
  }
}

function sameVisibleState(a: PresenceEntry, b: PresenceEntry): boolean {
  return (
    a.status === b.status &&
    a.since === b.since &&
    a.name === b.name &&
    a.device === b.device &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata)
  );
}

function memberFields(entry: PresenceEntry): PresenceMember {
  const member: PresenceMember = {
    kind: entry.kind,
    id: entry.id,
    status: entry.status,
    since: entry.since,
    devices: [],
  };
  if (entry.name !== undefined) member.name = entry.name;
  if (entry.metadata !== undefined) member.metadata = entry.metadata;
  return member;
}

/** Participant state: status, name and metadata of its most recently changed connection; every device listed. */
function summarize(participant: TrackedParticipant): PresenceMember {
  let latest: PresenceEntry | undefined;
  const devices: PresenceDevice[] = [];
  for (const entry of participant.connections.values()) {
    if (!latest || entry.since >= latest.since) latest = entry;
    const device: PresenceDevice = { connection: entry.connection, status: entry.status, since: entry.since };
    if (entry.device !== undefined) device.device = entry.device;
    devices.push(device);
  }
  const member = memberFields(latest as PresenceEntry);
  member.devices = devices;
  return member;
}
