import type { KV } from "@nats-io/kv";
import {
  ErrorCode,
  isSessionId,
  NOTIFICATION_KINDS,
  type NotificationKind,
  ThreadlineError,
} from "@threadline/protocol";
import type { Versioned } from "./control-state.ts";
import { readEntry, validJson, writeJson } from "./kv-json.ts";
import { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";
import { checkPushUser, PREFS_KEY_SUFFIX } from "./push-subscriptions.ts";

/** The kinds of trigger a user can turn off one by one (the protocol's notification kinds). */
export const NOTIFICATION_EVENTS = NOTIFICATION_KINDS;
export type NotificationEvent = NotificationKind;

/** A user's notification choices (`<user>._prefs` in the push bucket). */
export interface NotificationPrefs {
  /** Nothing is notified. */
  muted: boolean;
  /** Sessions nothing is notified for (≤ {@link MAX_MUTED_SESSIONS}). */
  mutedSessions: string[];
  /** Per event type; a type missing from a stored value reads as on (a new type is on until turned off). */
  events: Record<NotificationEvent, boolean>;
}

export const MAX_MUTED_SESSIONS = 200;

export function defaultNotificationPrefs(): NotificationPrefs {
  return {
    muted: false,
    mutedSessions: [],
    events: Object.fromEntries(NOTIFICATION_EVENTS.map((e) => [e, true])) as Record<NotificationEvent, boolean>,
  };
}

/** Why `value` is not a preferences value (`events` may be partial), or undefined when it is. */
export function notificationPrefsProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "preferences are an object {muted, mutedSessions, events}";
  const { muted, mutedSessions, events } = value as Partial<NotificationPrefs>;
  if (typeof muted !== "boolean") return "muted must be a boolean";
  if (!Array.isArray(mutedSessions) || mutedSessions.length > MAX_MUTED_SESSIONS) {
    return `mutedSessions must be an array of at most ${MAX_MUTED_SESSIONS} session ids`;
  }
  const bad = mutedSessions.find((s) => !isSessionId(s));
  if (bad !== undefined) return `mutedSessions: invalid session id ${JSON.stringify(bad)}`;
  if (typeof events !== "object" || events === null || Array.isArray(events)) return "events must be an object";
  for (const [type, on] of Object.entries(events)) {
    if (!(NOTIFICATION_EVENTS as readonly string[]).includes(type)) return `events: unknown event type ${type}`;
    if (typeof on !== "boolean") return `events.${type} must be a boolean`;
  }
  return undefined;
}

/** Whether `prefs` let an `event` of `session` through (the notifier's filter; pure). */
export function wantsNotification(prefs: NotificationPrefs, session: string, event: NotificationEvent): boolean {
  return !prefs.muted && !prefs.mutedSessions.includes(session) && prefs.events[event] !== false;
}

/**
 * What `set` stores for valid `prefs` (pure): muted sessions without
 * duplicates, every event type present (missing ones on).
 */
export function normalizeNotificationPrefs(prefs: NotificationPrefs): NotificationPrefs {
  return { muted: prefs.muted, mutedSessions: [...new Set(prefs.mutedSessions)], events: withDefaults(prefs).events };
}

/**
 * Notification preferences per user, in the push bucket next to the user's
 * subscriptions. `get` returns the stored choices merged over the defaults
 * (revision 0 when none are stored: the argument for a create); `set` is a
 * compare-and-set on that revision and resolves to the new revision, or
 * undefined when another writer changed them first (re-read, decide again).
 * Invalid input throws `PushStoreError(INVALID_USER | INVALID_PREFERENCES)`
 * and writes nothing; a stored value that does not validate reads as the
 * defaults (at its revision, so the next `set` replaces it).
 *
 * @example
 *   const { value, revision } = await prefs.get("u1");
 *   await prefs.set("u1", { ...value, muted: true }, revision);
 */
export class NotificationPreferences {
  constructor(private readonly kv: KV) {}

  async get(user: string): Promise<Versioned<NotificationPrefs>> {
    checkPushUser(user);
    const entry = await readEntry(this.kv, prefsKey(user), "notification preferences");
    if (!entry) return { value: defaultNotificationPrefs(), revision: 0 };
    const stored = validJson<NotificationPrefs>(entry, notificationPrefsProblem);
    return { value: withDefaults(stored), revision: entry.revision };
  }

  async set(user: string, prefs: NotificationPrefs, revision: number): Promise<number | undefined> {
    checkPushUser(user);
    const problem = notificationPrefsProblem(prefs);
    if (problem) {
      throw new PushStoreError(PushStoreErrorCode.INVALID_PREFERENCES, `invalid notification preferences: ${problem}`);
    }
    return writeJson(this.kv, prefsKey(user), normalizeNotificationPrefs(prefs), revision, "notification preferences");
  }

  /** Read, change, compare-and-set, again when another writer won (a few rounds). Resolves to the stored value. */
  async update(user: string, change: (prefs: NotificationPrefs) => NotificationPrefs): Promise<NotificationPrefs> {
    for (let round = 0; round < 5; round++) {
      const { value, revision } = await this.get(user);
      const next = change(value);
      if ((await this.set(user, next, revision)) !== undefined) return withDefaults(next);
    }
    throw new ThreadlineError(ErrorCode.UNAVAILABLE, `notification preferences of ${user} kept changing`);
  }
}

function prefsKey(user: string): string {
  return `${user}.${PREFS_KEY_SUFFIX}`;
}

function withDefaults(stored: Partial<NotificationPrefs> | undefined): NotificationPrefs {
  const defaults = defaultNotificationPrefs();
  if (!stored) return defaults;
  return {
    muted: stored.muted ?? defaults.muted,
    mutedSessions: [...(stored.mutedSessions ?? [])],
    events: { ...defaults.events, ...stored.events },
  };
}
