import type { KV } from "@nats-io/kv";
import {
  type LeaveReason,
  PRESENCE_EXPIRY_INTERVALS,
  type PresenceEntry,
  PresenceEventType,
  type PresenceKey,
  PresenceTracker,
  presenceKey,
} from "@threadline/protocol";
import type { PresenceChange } from "@threadline/store";
import type { Logger } from "pino";
import type { DisconnectedClient } from "./disconnect-advisories.ts";
import type { PresenceMetrics } from "./metrics.ts";
import type { PresencePublisher } from "./presence-publisher.ts";

/** What the monitor knows about one present connection beyond its entry. */
interface ConnectionState {
  key: PresenceKey;
  /** KV revision of the latest entry (the expected revision when writing its tombstone). */
  revision: number;
  /** Local time of the latest write we saw (server time for snapshot entries). */
  lastSeen: number;
  heartbeatMs: number;
  /** `<serverId>/<clientId>` of its NATS connection, when the writer reported one. */
  natsClient: string | undefined;
  /** Revision for which a tombstone write was already attempted (no retry storm while it lands). */
  tombstoneFor: number | undefined;
}

/**
 * The presence service's state machine. It applies bucket changes in
 * bucket order to a {@link PresenceTracker} and publishes each transition
 * with an id derived from the change's revision. Failure detection never
 * publishes directly: a crash (disconnect advisory) or heartbeat expiry is
 * turned into a tombstone written with `kv.update(key, …, revision)`, so only
 * one replica's write wins, and every replica then derives the same leave
 * from the same bucket change.
 */
export class PresenceMonitor {
  private readonly tracker = new PresenceTracker();
  private readonly connections = new Map<string, ConnectionState>();
  /** `<serverId>/<clientId>` → KV keys written over that NATS connection. */
  private readonly byNatsClient = new Map<string, Set<string>>();
  /** Tombstones seen in the start-up snapshot: the latest per participant (see `reconcile`). */
  private readonly snapshotTombstones = new Map<string, PresenceChange>();

  constructor(
    private readonly kv: KV,
    private readonly publisher: PresencePublisher,
    private readonly metrics: PresenceMetrics,
    private readonly log: Logger,
  ) {}

  /** Present connections. */
  get size(): number {
    return this.connections.size;
  }

  members(session: string) {
    return this.tracker.members(session);
  }

  /** Applies one bucket change. Snapshot (`initial`) entries update the state silently. */
  apply(change: PresenceChange): void {
    const kvKey = presenceKey(change.key.session, change.key.kind, change.key.id, change.key.connection);
    if (change.entry) {
      const transition = this.tracker.put(change.key, change.entry);
      this.track(kvKey, change, change.entry);
      if (transition && !change.initial) void this.publisher.publish(transition, change.revision);
    } else {
      if (change.initial && change.tombstone) this.noteSnapshotTombstone(change);
      const transition = this.tracker.remove(change.key, change.reason ?? "left");
      this.untrack(kvKey);
      if (transition && !change.initial) void this.publisher.publish(transition, change.revision);
    }
    this.metrics.connections.set(this.connections.size);
  }

  /**
   * After the start-up snapshot: a participant whose latest tombstone is
   * recent and who has no live connection may have left while no replica ran,
   * so its leave is published again under the same derived id — the stream
   * drops it if it was stored already (within its duplicate window), which is
   * why `windowMs` must not exceed that window.
   */
  reconcile(windowMs: number, now = Date.now()): void {
    for (const change of this.snapshotTombstones.values()) {
      const tombstone = change.tombstone as PresenceEntry;
      if (now - change.created.getTime() > windowMs) continue;
      if (this.tracker.members(change.key.session).some((m) => m.kind === change.key.kind && m.id === change.key.id)) {
        continue;
      }
      const { gone, nats: _nats, heartbeatMs: _hb, connection: _c, device: _d, ...member } = tombstone;
      void this.publisher.publish(
        {
          session: change.key.session,
          type: PresenceEventType.LEAVE,
          data: { ...member, devices: [], reason: gone ?? "left" },
        },
        change.revision,
      );
    }
    this.snapshotTombstones.clear();
  }

  /** A NATS client connection closed: its connections crashed unless they said goodbye first. */
  onDisconnect(client: DisconnectedClient): void {
    const keys = this.byNatsClient.get(`${client.serverId}/${client.clientId}`);
    if (!keys) return;
    for (const kvKey of [...keys]) {
      const state = this.connections.get(kvKey);
      if (state) void this.declareGone(kvKey, state, "crashed");
    }
  }

  /** Declares connections whose heartbeats stopped (no write for 3 intervals) timed out. */
  sweep(now = Date.now()): void {
    for (const [kvKey, state] of this.connections) {
      if (now - state.lastSeen > PRESENCE_EXPIRY_INTERVALS * state.heartbeatMs) {
        void this.declareGone(kvKey, state, "timeout");
      }
    }
  }

  private async declareGone(kvKey: string, state: ConnectionState, reason: LeaveReason): Promise<void> {
    if (state.tombstoneFor === state.revision) return;
    state.tombstoneFor = state.revision;
    const entry = this.tracker.get(state.key);
    if (!entry) return;
    const tombstone: PresenceEntry = { ...entry, gone: reason };
    try {
      await this.kv.update(kvKey, JSON.stringify(tombstone), state.revision);
      this.metrics.detections.inc({ reason });
      const { session, kind, id, connection } = state.key;
      this.log.info({ session, participant: `${kind}:${id}`, connection, reason }, "presence connection gone");
    } catch (error) {
      // Another replica wrote the tombstone first, or the writer wrote again (it is alive): nothing to do.
      this.log.debug({ err: error, key: kvKey, reason }, "tombstone not written");
    }
  }

  private track(kvKey: string, change: PresenceChange, entry: PresenceEntry): void {
    const natsClient = entry.nats ? `${entry.nats.serverId}/${entry.nats.clientId}` : undefined;
    const previous = this.connections.get(kvKey);
    if (previous?.natsClient !== natsClient) {
      if (previous?.natsClient) this.unindex(previous.natsClient, kvKey);
      if (natsClient) {
        let keys = this.byNatsClient.get(natsClient);
        if (!keys) {
          keys = new Set();
          this.byNatsClient.set(natsClient, keys);
        }
        keys.add(kvKey);
      }
    }
    this.connections.set(kvKey, {
      key: change.key,
      revision: change.revision,
      lastSeen: change.initial ? change.created.getTime() : Date.now(),
      heartbeatMs: entry.heartbeatMs,
      natsClient,
      tombstoneFor: undefined,
    });
  }

  private untrack(kvKey: string): void {
    const state = this.connections.get(kvKey);
    if (!state) return;
    this.connections.delete(kvKey);
    if (state.natsClient) this.unindex(state.natsClient, kvKey);
  }

  private unindex(natsClient: string, kvKey: string): void {
    const keys = this.byNatsClient.get(natsClient);
    keys?.delete(kvKey);
    if (keys?.size === 0) this.byNatsClient.delete(natsClient);
  }

  private noteSnapshotTombstone(change: PresenceChange): void {
    const participant = `${change.key.session}.${change.key.kind}.${change.key.id}`;
    const seen = this.snapshotTombstones.get(participant);
    if (!seen || seen.revision < change.revision) this.snapshotTombstones.set(participant, change);
  }
}
