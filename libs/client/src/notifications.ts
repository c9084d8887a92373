import { checkSessionId, ErrorCode, ThreadlineError } from "@threadline/protocol";
import type { GatewayHttp } from "./gateway-http.ts";
import type { NotificationKind } from "./service-worker/notification-payload.ts";

export type { NotificationKind };

/** A user's notification choices, shared by all their devices. */
export interface NotificationPreferences {
  /** Nothing is notified. */
  muted: boolean;
  /** Sessions nothing is notified for (at most 200). */
  mutedSessions: string[];
  /** Per kind; a kind missing when written reads as on. */
  events: Record<NotificationKind, boolean>;
}

/** Preferences and the revision they were read or written at (for a compare-and-set). */
export interface VersionedNotificationPreferences {
  preferences: NotificationPreferences;
  revision: number;
}

/** A registered device as the gateway lists it (never its keys). */
export interface PushSubscriptionInfo {
  id: string;
  /** `scheme://host[:port]` of the push service. */
  endpointOrigin: string;
  createdAt: number;
  registeredAt: number;
  device?: string;
  userAgent?: string;
}

/** `PushSubscription.toJSON()`: what the browser's Push API gives (the DOM `PushSubscriptionJSON`). */
export interface PushSubscriptionJSONLike {
  endpoint?: string;
  expirationTime?: number | null;
  keys?: Record<string, string>;
}

/** A browser `PushSubscription` (anything with its `endpoint` and `toJSON()`). */
export interface PushSubscriptionLike {
  readonly endpoint: string;
  toJSON(): PushSubscriptionJSONLike;
}

/** A preferences change computed from the current value; `undefined` = nothing to change (no write). */
export type PreferencesUpdater = (
  current: NotificationPreferences,
) => NotificationPreferences | undefined | Promise<NotificationPreferences | undefined>;

/**
 * Offline delivery for the signed-in user (`client.notifications`, PROTOCOL.md
 * §20): Web Push subscriptions of their devices and their notification
 * preferences, over the gateway's HTTP API with the client's token. Errors
 * are `ThreadlineError`s with the route's code (`INVALID_SUBSCRIPTION`,
 * `PUSH_HOST_NOT_ALLOWED`, `PUSH_DISABLED`, `PREFERENCES_CONFLICT`,
 * `INVALID_PREFERENCES`, `RATE_LIMITED`, `AUTH_FAILED`, `UNAVAILABLE`, `TIMEOUT`, …).
 *
 * @example
 *   const registration = await navigator.serviceWorker.register("/sw.js");
 *   const applicationServerKey = await client.notifications.vapidPublicKey();
 *   const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
 *   await client.notifications.register(subscription, { device: tabId });
 *   await client.notifications.muteSession("support-42");
 */
export interface ThreadlineNotifications {
  /** The gateway's VAPID public key (base64url) for `pushManager.subscribe`; `PUSH_DISABLED` when push is off. */
  vapidPublicKey(): Promise<string>;
  /** Stores this browser's subscription for the user; the same browser again is `created: false`. */
  register(
    subscription: PushSubscriptionLike | PushSubscriptionJSONLike,
    options?: { device?: string },
  ): Promise<{ id: string; created: boolean }>;
  /**
   * Removes a subscription of the user: pass the subscription, its endpoint or
   * its id. Resolves also when it was not registered. The browser side
   * (`subscription.unsubscribe()`) is the app's call.
   */
  unregister(subscriptionOrEndpointOrId: PushSubscriptionLike | PushSubscriptionJSONLike | string): Promise<void>;
  /** The user's registered devices, oldest first. */
  list(): Promise<PushSubscriptionInfo[]>;
  preferences(): Promise<VersionedNotificationPreferences>;
  /**
   * Writes preferences. With a value: `revision` makes it a compare-and-set
   * (`PREFERENCES_CONFLICT` when another device wrote since), without one the
   * last writer wins. With an updater: read, apply, write at the read revision,
   * again on a conflict (at most 5 rounds, then the conflict is thrown).
   */
  setPreferences(
    preferences: NotificationPreferences,
    options?: { revision?: number },
  ): Promise<VersionedNotificationPreferences>;
  setPreferences(update: PreferencesUpdater): Promise<VersionedNotificationPreferences>;
  /** Adds `session` to the muted sessions (an updater write). */
  muteSession(session: string): Promise<VersionedNotificationPreferences>;
  /** Removes `session` from the muted sessions (an updater write). */
  unmuteSession(session: string): Promise<VersionedNotificationPreferences>;
}

/** Rounds of read-apply-write an updater gets before the conflict is thrown. */
export const PREFERENCES_UPDATE_ROUNDS = 5;

const SUBSCRIPTION_ID = /^[0-9a-f]{32}$/;

/** Builds `client.notifications` over the client's HTTP API access. */
export function createNotifications(http: GatewayHttp): ThreadlineNotifications {
  const preferences = async (): Promise<VersionedNotificationPreferences> =>
    (await http.call({ method: "GET", path: "/v1/notifications/preferences" }))
      .json as VersionedNotificationPreferences;
  const write = async (prefs: NotificationPreferences, revision: number | undefined) =>
    (
      await http.call({
        method: "PUT",
        path: "/v1/notifications/preferences",
        body: revision === undefined ? { preferences: prefs } : { preferences: prefs, revision },
      })
    ).json as VersionedNotificationPreferences;
  const update = async (change: PreferencesUpdater): Promise<VersionedNotificationPreferences> => {
    let conflict: unknown;
    for (let round = 0; round < PREFERENCES_UPDATE_ROUNDS; round++) {
      const current = await preferences();
      const next = await change(current.preferences);
      if (next === undefined) return current;
      try {
        return await write(next, current.revision);
      } catch (error) {
        if (!(error instanceof ThreadlineError && error.code === ErrorCode.PREFERENCES_CONFLICT)) throw error;
        conflict = error;
      }
    }
    throw conflict;
  };

  return {
    async vapidPublicKey() {
      const { json } = await http.call({ method: "GET", path: "/v1/push/vapid-public-key", auth: false });
      return (json as { publicKey: string }).publicKey;
    },
    async register(subscription, options = {}) {
      const body = { subscription: subscriptionJson(subscription), ...options };
      const { json } = await http.call({ method: "PUT", path: "/v1/push/subscriptions", body });
      const { id, created } = json as { id: string; created: boolean };
      return { id, created };
    },
    async unregister(target) {
      const id = await subscriptionIdOf(target);
      await http.call({ method: "DELETE", path: `/v1/push/subscriptions/${id}` });
    },
    async list() {
      const { json } = await http.call({ method: "GET", path: "/v1/push/subscriptions" });
      return (json as { subscriptions: PushSubscriptionInfo[] }).subscriptions;
    },
    preferences,
    setPreferences(
      prefsOrUpdate: NotificationPreferences | PreferencesUpdater,
      options: { revision?: number } = {},
    ): Promise<VersionedNotificationPreferences> {
      return typeof prefsOrUpdate === "function" ? update(prefsOrUpdate) : write(prefsOrUpdate, options.revision);
    },
    async muteSession(session) {
      checkSessionId(session);
      return update((p) =>
        p.mutedSessions.includes(session) ? undefined : { ...p, mutedSessions: [...p.mutedSessions, session] },
      );
    },
    async unmuteSession(session) {
      checkSessionId(session);
      return update((p) =>
        p.mutedSessions.includes(session)
          ? { ...p, mutedSessions: p.mutedSessions.filter((s) => s !== session) }
          : undefined,
      );
    },
  };
}

function subscriptionJson(subscription: PushSubscriptionLike | PushSubscriptionJSONLike): PushSubscriptionJSONLike {
  return "toJSON" in subscription && typeof subscription.toJSON === "function" ? subscription.toJSON() : subscription;
}

/**
 * The gateway's id of a subscription (pure but async: Web Crypto): an id as
 * is, else the first 16 bytes of SHA-256 of the endpoint in hex — the same
 * id the gateway derives (libs/store `pushSubscriptionId`).
 */
export async function subscriptionIdOf(
  target: PushSubscriptionLike | PushSubscriptionJSONLike | string,
): Promise<string> {
  if (typeof target === "string" && SUBSCRIPTION_ID.test(target)) return target;
  const endpoint = typeof target === "string" ? target : target.endpoint;
  if (typeof endpoint !== "string" || endpoint === "") {
    throw new ThreadlineError(
      ErrorCode.INVALID_SUBSCRIPTION,
      "unregister needs a subscription, its endpoint or its id",
    );
  }
  const digest = await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(endpoint));
  return [...new Uint8Array(digest).subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
