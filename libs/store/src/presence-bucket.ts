import type { Bucket, KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  PRESENCE_EXPIRY_INTERVALS,
  type PresenceEntry,
  type PresenceMember,
  PresenceTracker,
  parsePresenceKey,
  presenceEntryProblem,
} from "@threadline/protocol";
import { JsPublisher } from "./js-publisher.ts";
import { currentEntries } from "./kv-json.ts";
import { natsError } from "./nats-errors.ts";
import { followPresence, type PresenceFeed, type PresenceFeedHandler } from "./presence-feed.ts";

/**
 * The presence KV bucket (`threadline-presence`, PROTOCOL.md §16) for the
 * writers of entries (gateway sockets, agents) and their readers.
 *
 * Contract:
 * - `write(key, entry)` stores the entry stamped with this connection's NATS
 *   identity (`nats.clientId/serverId/serverName`: the presence service maps
 *   disconnect advisories by it); writes of one key are serialised in call
 *   order, so a heartbeat never lands after its tombstone. A failed write
 *   rejects with a typed `ThreadlineError` and does not block later writes.
 * - `members(session)` reads the bucket now: valid live entries only
 *   (tombstones and entries whose heartbeats stopped for
 *   `PRESENCE_EXPIRY_INTERVALS` intervals are not members).
 * - `follow(filter, handler)`: the snapshot, then every change (see `followPresence`).
 *
 * Writes are what `kv.put` sends (a JetStream publish to the key's subject),
 * through the store's `JsPublisher` instead of nats.js's `js.publish()`:
 * heartbeats are most of a gateway's writes (one per attached socket every
 * 2 s by default: 10,000 a second at 20,000 sockets), and `js.publish()`
 * builds three `Error` objects and a timer for each.
 */
export class PresenceBucket {
  private readonly chains = new Map<string, Promise<void>>();
  private publisher: JsPublisher | undefined;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly kv: KV,
    private readonly nc: NatsConnection,
  ) {}

  write(key: string, entry: PresenceEntry): Promise<void> {
    const run = async (): Promise<void> => {
      const info = this.nc.info;
      const value: PresenceEntry = info
        ? { ...entry, nats: { clientId: info.client_id, serverId: info.server_id, serverName: info.server_name } }
        : entry;
      try {
        await this.put(key, JSON.stringify(value));
      } catch (error) {
        throw natsError(`writing presence key ${key}`, error);
      }
    };
    const next = (this.chains.get(key) ?? Promise.resolve()).then(run, run);
    const settled = next.catch(() => {});
    this.chains.set(key, settled);
    void settled.then(() => {
      if (this.chains.get(key) === settled) this.chains.delete(key);
    });
    return next;
  }

  /** `kv.put(key, json)` as nats.js sends it (the key checked, the bucket's subject for writes), without its per-publish cost. */
  private async put(key: string, json: string): Promise<void> {
    // nats.js's KV is its Bucket class; its subject for writes also covers buckets behind a JetStream domain prefix.
    const bucket = this.kv as Bucket;
    const encoded = bucket.encodeKey(key);
    bucket.validateKey(encoded);
    this.publisher ??= new JsPublisher(this.nc);
    await this.publisher.publish(bucket.subjectForKey(encoded, true), this.encoder.encode(json));
  }

  async members(session: string): Promise<PresenceMember[]> {
    const tracker = new PresenceTracker();
    const now = Date.now();
    for (const entry of await currentEntries(this.kv, `${session}.>`, "presence")) {
      const parsed = parsePresenceKey(entry.key);
      if (!parsed) continue;
      let value: unknown;
      try {
        value = entry.json();
      } catch {
        continue;
      }
      if (presenceEntryProblem(value, parsed)) continue;
      const e = value as PresenceEntry;
      if (e.gone || now - entry.created.getTime() > PRESENCE_EXPIRY_INTERVALS * e.heartbeatMs) continue;
      tracker.put(parsed, e);
    }
    return tracker.members(session);
  }

  follow(filter: string, handler: PresenceFeedHandler): PresenceFeed {
    return followPresence(this.kv, filter, handler);
  }

  /** Resolves when every write issued so far has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }
}
