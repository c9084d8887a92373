import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { ErrorCode, isDeviceId, isParticipantId, ThreadlineError } from "@threadline/protocol";
import { deleteAt, listKeys, readEntry, validJson, writeJson } from "./kv-json.ts";
import { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";

/** A browser's `PushSubscription.toJSON()` (RFC 8030 endpoint, RFC 8291 keys, base64url). Other fields are ignored. */
export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** What the device says about itself; shown in a "your devices" list, never used for delivery. */
export interface PushSubscriptionMeta {
  /** ≤ {@link MAX_USER_AGENT_LENGTH} characters. */
  userAgent?: string;
  /** The Threadline device id (`[A-Za-z0-9_-]{1,64}`). */
  device?: string;
}

/** The stored value of `<user>.<id>` in the push bucket. */
export interface StoredPushSubscription extends PushSubscriptionMeta {
  endpoint: string;
  /** Base64url without padding: `p256dh` a 65-byte uncompressed P-256 point, `auth` 16 bytes. */
  keys: { p256dh: string; auth: string };
  /** First registration of this endpoint, ms since the epoch. */
  createdAt: number;
  /** Latest registration (refreshed at most every `refreshMs`); eviction removes the smallest first. */
  registeredAt: number;
}

/** A stored subscription with its id and the revision it was read at (for a conditional `remove`). */
export interface PushSubscriptionRecord extends StoredPushSubscription {
  id: string;
  revision: number;
}

export interface RegisterResult {
  id: string;
  /** False when this endpoint was already registered for the user (the same browser registering again). */
  created: boolean;
  /** Ids evicted to keep the user at `maxPerUser` (least recently registered first). */
  evicted: string[];
}

export interface PushSubscriptionsOptions {
  /** Subscriptions per user; registering one more evicts the least recently registered. Default 20. */
  maxPerUser?: number;
  /**
   * Accept `http://` endpoints on loopback hosts (`127.0.0.1`, `localhost`,
   * `[::1]`): the test kit's local push service. Off by default so that a
   * device cannot make the notifier POST to the notifier's own host.
   */
  allowLoopbackHttp?: boolean;
  /** A re-registration of an unchanged subscription rewrites it (bumping `registeredAt`) only after this long. Default 1 h. */
  refreshMs?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

export const MAX_ENDPOINT_LENGTH = 2048;
export const MAX_USER_AGENT_LENGTH = 512;
const P256DH_BYTES = 65;
const AUTH_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const SUBSCRIPTION_ID = /^[0-9a-f]{32}$/;
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** The key of a user's preferences in the same bucket (a subscription id is 32 hex digits: never this). */
export const PREFS_KEY_SUFFIX = "_prefs";
const WRITE_ROUNDS = 5;

/**
 * The id of a subscription: the first 16 bytes of SHA-256 of its endpoint, in
 * hex. The push service gives a browser one endpoint per subscription, so the
 * same browser registering twice lands on the same key.
 */
export function pushSubscriptionId(endpoint: string): string {
  return createHash("sha256").update(endpoint).digest().subarray(0, 16).toString("hex");
}

/** Why `value` is not a subscription this store accepts, or undefined when it is. */
export function pushSubscriptionProblem(value: unknown, allowLoopbackHttp = false): string | undefined {
  if (typeof value !== "object" || value === null) return "a subscription is an object {endpoint, keys}";
  const { endpoint, keys } = value as Partial<PushSubscriptionInput>;
  const endpointProblem = pushEndpointProblem(endpoint, allowLoopbackHttp);
  if (endpointProblem) return endpointProblem;
  if (typeof keys !== "object" || keys === null) return "keys must be an object {p256dh, auth}";
  return (
    keyProblem("keys.p256dh", keys.p256dh, P256DH_BYTES, (bytes) => bytes[0] === 0x04) ??
    keyProblem("keys.auth", keys.auth, AUTH_BYTES)
  );
}

function pushEndpointProblem(endpoint: unknown, allowLoopbackHttp: boolean): string | undefined {
  if (typeof endpoint !== "string" || endpoint.length === 0 || endpoint.length > MAX_ENDPOINT_LENGTH) {
    return `endpoint must be a URL of at most ${MAX_ENDPOINT_LENGTH} characters`;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return "endpoint is not a URL";
  }
  if (url.username || url.password) return "endpoint must not carry credentials";
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) {
    return allowLoopbackHttp ? undefined : "http endpoints on loopback need the store's allowLoopbackHttp option";
  }
  return "endpoint must be https";
}

function keyProblem(
  name: string,
  value: unknown,
  bytes: number,
  check: (decoded: Buffer) => boolean = () => true,
): string | undefined {
  if (typeof value !== "string" || !BASE64URL.test(value)) return `${name} must be base64url`;
  const decoded = Buffer.from(value, "base64url");
  if (decoded.length !== bytes || !check(decoded)) {
    return `${name} must be ${bytes} bytes${bytes === P256DH_BYTES ? " (an uncompressed P-256 point)" : ""}`;
  }
  return undefined;
}

function metaProblem(meta: unknown): string | undefined {
  if (meta === undefined) return undefined;
  if (typeof meta !== "object" || meta === null) return "meta must be an object {userAgent?, device?}";
  const { userAgent, device } = meta as PushSubscriptionMeta;
  if (userAgent !== undefined && (typeof userAgent !== "string" || userAgent.length > MAX_USER_AGENT_LENGTH)) {
    return `userAgent must be a string of at most ${MAX_USER_AGENT_LENGTH} characters`;
  }
  if (device !== undefined && !isDeviceId(device)) return "device must be a device id ([A-Za-z0-9_-]{1,64})";
  return undefined;
}

function storedProblem(value: unknown, allowLoopbackHttp: boolean): string | undefined {
  const problem = pushSubscriptionProblem(value, allowLoopbackHttp);
  if (problem) return problem;
  const v = value as StoredPushSubscription;
  if (!Number.isFinite(v.createdAt) || !Number.isFinite(v.registeredAt)) return "createdAt/registeredAt missing";
  return metaProblem({ userAgent: v.userAgent, device: v.device });
}

/** Throws `INVALID_USER` unless `user` is a participant id (it is a KV key token). */
export function checkPushUser(user: unknown): asserts user is string {
  if (!isParticipantId(user)) {
    throw new PushStoreError(
      PushStoreErrorCode.INVALID_USER,
      `invalid user id ${JSON.stringify(user)}: must match [A-Za-z0-9_-]{1,128}`,
    );
  }
}

const base64urlNoPad = (value: string): string => value.replace(/=+$/, "");

/**
 * Web Push subscriptions per user in the push bucket (`threadline-push`):
 * key `<user>.<id>` ({@link pushSubscriptionId}), value
 * {@link StoredPushSubscription}.
 *
 * Contract:
 * - `register` validates before writing (`PushStoreError(INVALID_USER |
 *   INVALID_SUBSCRIPTION)`, nothing written) and is idempotent: the same
 *   endpoint is one entry, re-registering keeps `createdAt`; at
 *   `maxPerUser` the least recently registered subscriptions are evicted
 *   (a browser that is gone never re-registers, so it is the one to drop;
 *   refusing would lock a user out of a new device);
 * - reads validate: a stored value that does not validate is not listed;
 * - `remove(user, id, revision)` is the notifier's removal after the push
 *   service answered 404/410: conditional on the revision it read, so a
 *   re-registration in between survives;
 * - NATS failures throw `ThreadlineError` (`UNAVAILABLE` retryable, `CLOSED`).
 *
 * @example
 *   const subs = new PushSubscriptions(kv);
 *   const { id } = await subs.register("u1", subscription.toJSON(), { device: "d1" });
 *   for (const s of await subs.list("u1")) await webpush.sendNotification(s, payload);
 */
export class PushSubscriptions {
  readonly maxPerUser: number;
  private readonly allowLoopbackHttp: boolean;
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(
    private readonly kv: KV,
    options: PushSubscriptionsOptions = {},
  ) {
    this.maxPerUser = options.maxPerUser ?? 20;
    if (!Number.isInteger(this.maxPerUser) || this.maxPerUser < 1 || this.maxPerUser > 1000) {
      throw new RangeError(`maxPerUser must be an integer in [1, 1000], got ${String(options.maxPerUser)}`);
    }
    this.allowLoopbackHttp = options.allowLoopbackHttp ?? false;
    this.refreshMs = options.refreshMs ?? 60 * 60 * 1000;
    this.now = options.now ?? Date.now;
  }

  async register(
    user: string,
    subscription: PushSubscriptionInput,
    meta?: PushSubscriptionMeta,
  ): Promise<RegisterResult> {
    checkPushUser(user);
    const problem = pushSubscriptionProblem(subscription, this.allowLoopbackHttp) ?? metaProblem(meta);
    if (problem)
      throw new PushStoreError(PushStoreErrorCode.INVALID_SUBSCRIPTION, `invalid push subscription: ${problem}`);
    const id = pushSubscriptionId(subscription.endpoint);
    const key = `${user}.${id}`;
    const keys = { p256dh: base64urlNoPad(subscription.keys.p256dh), auth: base64urlNoPad(subscription.keys.auth) };
    for (let round = 0; round < WRITE_ROUNDS; round++) {
      const entry = await readEntry(this.kv, key, "push");
      const stored = entry ? this.validStored(entry) : undefined;
      const now = this.now();
      const value: StoredPushSubscription = {
        endpoint: subscription.endpoint,
        keys,
        createdAt: stored?.createdAt ?? now,
        registeredAt: now,
        ...pickMeta(meta ?? stored ?? {}),
      };
      if (stored && sameSubscription(stored, value) && now - stored.registeredAt < this.refreshMs) {
        return { id, created: false, evicted: [] };
      }
      const revision = await writeJson(this.kv, key, value, entry?.revision ?? 0, "push");
      if (revision === undefined) continue; // a concurrent register of the same browser: read again
      const evicted = stored ? [] : await this.evict(user, id);
      return { id, created: stored === undefined, evicted };
    }
    throw new ThreadlineError(ErrorCode.UNAVAILABLE, `push key ${key} kept changing while it was registered`);
  }

  /** The user's valid subscriptions, oldest first. */
  async list(user: string): Promise<PushSubscriptionRecord[]> {
    checkPushUser(user);
    const ids = (await listKeys(this.kv, `${user}.*`, "push"))
      .map((key) => key.slice(user.length + 1))
      .filter((id) => SUBSCRIPTION_ID.test(id));
    const records = await Promise.all(ids.map((id) => this.get(user, id)));
    return records
      .filter((r): r is PushSubscriptionRecord => r !== undefined)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async get(user: string, id: string): Promise<PushSubscriptionRecord | undefined> {
    checkPushUser(user);
    if (!SUBSCRIPTION_ID.test(id)) return undefined;
    const entry = await readEntry(this.kv, `${user}.${id}`, "push");
    const stored = entry ? this.validStored(entry) : undefined;
    return entry && stored ? { ...stored, id, revision: entry.revision } : undefined;
  }

  /** The device removes its subscription. Resolves to whether there was one. */
  async unregister(user: string, id: string): Promise<boolean> {
    const record = await this.get(user, id);
    if (!record) return false;
    return this.remove(user, id);
  }

  /**
   * Removes a subscription the push service no longer knows (404/410). With
   * `revision` (the record's, from `list`), only if it is still that value.
   * Resolves to whether it removed something.
   */
  async remove(user: string, id: string, revision?: number): Promise<boolean> {
    checkPushUser(user);
    if (!SUBSCRIPTION_ID.test(id)) return false;
    const key = `${user}.${id}`;
    const at = revision ?? (await readEntry(this.kv, key, "push"))?.revision;
    return at === undefined ? false : deleteAt(this.kv, key, at, "push");
  }

  /** Keeps the user at `maxPerUser`: deletes the least recently registered others (each only if unchanged). */
  private async evict(user: string, keep: string): Promise<string[]> {
    const records = await this.list(user);
    const excess = records.length - this.maxPerUser;
    if (excess <= 0) return [];
    const victims = records
      .filter((r) => r.id !== keep)
      .sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id))
      .slice(0, excess);
    const evicted: string[] = [];
    for (const victim of victims) {
      if (await deleteAt(this.kv, `${user}.${victim.id}`, victim.revision, "push")) evicted.push(victim.id);
    }
    return evicted;
  }

  private validStored(entry: Parameters<typeof validJson>[0]): StoredPushSubscription | undefined {
    return validJson<StoredPushSubscription>(entry, (v) => storedProblem(v, this.allowLoopbackHttp));
  }
}

function pickMeta(meta: PushSubscriptionMeta): PushSubscriptionMeta {
  return {
    ...(meta.userAgent === undefined ? {} : { userAgent: meta.userAgent }),
    ...(meta.device === undefined ? {} : { device: meta.device }),
  };
}

function sameSubscription(a: StoredPushSubscription, b: StoredPushSubscription): boolean {
  return (
    a.endpoint === b.endpoint &&
    a.keys.p256dh === b.keys.p256dh &&
    a.keys.auth === b.keys.auth &&
    a.userAgent === b.userAgent &&
    a.device === b.device
  );
}
