import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type LeaveReason,
  PRESENCE_EXPIRY_INTERVALS,
  type PresenceEntry,
  type PresenceMember,
  PresenceTracker,
  parsePresenceKey,
  presenceEntryProblem,
  presenceKey,
} from "@threadline/protocol";
import type { Logger } from "./logger.ts";

/** A socket attached to a session, as presence sees it. */
export interface PresenceConnection {
  session: string;
  kind: "user" | "operator";
  id: string;
  device: string;
  /** The socket's connection id (unique per socket). */
  connection: string;
}

/**
 * The gateway's side of presence: one KV entry per (socket, session)
 * attachment in the presence bucket, written on attach, re-written every
 * `heartbeatMs` while the socket lives, and replaced by a tombstone (`gone`:
 * `left` on detach, `closed` when the socket closed) at once when it ends —
 * the presence service turns that into the leave within milliseconds.
 * Writes of one key are serialised, so a heartbeat never lands after its
 * tombstone. Write failures are logged; the next heartbeat repairs them.
 */
export interface PresenceWriter {
  enter(connection: PresenceConnection): void;
  leave(connection: PresenceConnection, reason: LeaveReason): void;
  /** Changes the status (and metadata) of an entered connection; false when it has no entry. Inputs are validated by the caller. */
  update(connection: PresenceConnection, status: string, metadata: Record<string, unknown> | undefined): boolean;
  /** Members of a session, read from the bucket (for `GET /v1/sessions/:id/presence`). */
  members(session: string): Promise<PresenceMember[]>;
  /** Entries this gateway keeps alive. */
  readonly size: number;
  /** Stops heartbeats and waits for pending writes (sockets' tombstones are written by their close). */
  close(): Promise<void>;
}

/** Heartbeat writes are spread over this many slots per interval. */
const HEARTBEAT_SLICES = 8;

export function createPresenceWriter(kv: KV, nc: NatsConnection, heartbeatMs: number, log: Logger): PresenceWriter {
  const entries = new Map<string, PresenceEntry>();
  const chains = new Map<string, Promise<void>>();

  const write = (key: string, entry: PresenceEntry): Promise<void> => {
    const info = nc.info;
    const value: PresenceEntry = info
      ? { ...entry, nats: { clientId: info.client_id, serverId: info.server_id, serverName: info.server_name } }
      : entry;
    const run = async (): Promise<void> => {
      try {
        await kv.put(key, JSON.stringify(value));
      } catch (error) {
        log.warn({ err: error, key }, "presence write failed");
      }
    };
    const next = (chains.get(key) ?? Promise.resolve()).then(run);
    chains.set(key, next);
    void next.then(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
    return next;
  };

  // Heartbeats are spread over the interval: each entry has a slot, and every heartbeatMs/SLICES one
  // slot's entries are re-written. Re-writing all entries at once made a latency spike for every
  // socket of the gateway each interval (measured: delivery p99 112 ms → 9 ms at 2000 sockets).
  const slots = new Map<string, number>();
  let nextSlot = 0;
  let tick = 0;
  const heartbeat = setInterval(() => {
    const slot = tick++ % HEARTBEAT_SLICES;
    for (const [key, entry] of entries) if (slots.get(key) === slot) void write(key, entry);
  }, heartbeatMs / HEARTBEAT_SLICES);
  heartbeat.unref?.();
  // After a NATS reconnect the connection has a new client id: refresh every entry at once, so a
  // disconnect advisory of the old connection finds the entries already moved to the new one.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "reconnect") for (const [key, entry] of entries) void write(key, entry);
    }
  })().catch(() => {});

  /** The connection's key; undefined (logged) when an id cannot be a key token (e.g. a token `sub` outside [A-Za-z0-9_-]). */
  const keyOf = (c: PresenceConnection): string | undefined => {
    try {
      return presenceKey(c.session, c.kind, c.id, c.connection);
    } catch (error) {
      log.warn({ err: error, session: c.session, id: c.id }, "no presence for this connection: invalid key token");
      return undefined;
    }
  };

  return {
    enter(c) {
      const key = keyOf(c);
      if (key === undefined || entries.has(key)) return;
      const entry: PresenceEntry = {
        kind: c.kind,
        id: c.id,
        device: c.device,
        connection: c.connection,
        status: "active",
        since: Date.now(),
        heartbeatMs,
      };
      entries.set(key, entry);
      slots.set(key, nextSlot++ % HEARTBEAT_SLICES);
      void write(key, entry);
    },
    update(c, status, metadata) {
      const key = keyOf(c);
      const current = key === undefined ? undefined : entries.get(key);
      if (key === undefined || !current) return false;
      const entry: PresenceEntry = { ...current, status, since: Date.now() };
      if (metadata === undefined) delete entry.metadata;
      else entry.metadata = metadata;
      entries.set(key, entry);
      void write(key, entry);
      return true;
    },
    leave(c, reason) {
      const key = keyOf(c);
      if (key === undefined) return;
      const entry = entries.get(key);
      if (!entry) return;
      entries.delete(key);
      slots.delete(key);
      void write(key, { ...entry, gone: reason });
    },
    async members(session) {
      const tracker = new PresenceTracker();
      const keys: string[] = [];
      for await (const k of await kv.keys(`${session}.>`)) keys.push(k);
      const now = Date.now();
      await Promise.all(
        keys.map(async (k) => {
          const parsed = parsePresenceKey(k);
          const entry = parsed ? await kv.get(k) : null;
          if (!parsed || !entry || entry.operation !== "PUT") return;
          let value: unknown;
          try {
            value = entry.json();
          } catch {
            return;
          }
          if (presenceEntryProblem(value, parsed)) return;
          const e = value as PresenceEntry;
          // Tombstones and entries whose heartbeats stopped (not yet expired by the presence service) are not members.
          if (e.gone || now - entry.created.getTime() > PRESENCE_EXPIRY_INTERVALS * e.heartbeatMs) return;
          tracker.put(parsed, e);
        }),
      );
      return tracker.members(session);
    },
    get size() {
      return entries.size;
    },
    async close() {
      clearInterval(heartbeat);
      await Promise.all([...chains.values()]);
    },
  };
}
