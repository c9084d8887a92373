/**
 * The offline-delivery notification payload (PROTOCOL.md §20): the JSON body
 * of a Threadline Web Push message and of its signed webhook. Pure; its only
 * import is the protocol's import-free notification module, so a service
 * worker bundle stays small.
 */

import {
  MAX_NOTIFICATION_BODY_LENGTH,
  MAX_NOTIFICATION_TITLE_LENGTH,
  NOTIFICATION_TYPE,
  type ThreadlineNotification,
} from "@threadline/protocol/notification";

export type { NotificationKind, ThreadlineNotification } from "@threadline/protocol/notification";

/** What `registration.showNotification` is called with. */
export interface NotificationContent {
  title: string;
  options: ThreadlineNotificationOptions;
}

/** The `showNotification` options the helper sets (a subset of the DOM's `NotificationOptions` plus `renotify`). */
export interface ThreadlineNotificationOptions {
  body?: string;
  tag?: string;
  /** Alert again when a notification with the same tag replaces an older one. */
  renotify?: boolean;
  data?: unknown;
  icon?: string;
  badge?: string;
  lang?: string;
  requireInteraction?: boolean;
  silent?: boolean;
}

/** Longest title shown, characters (the protocol's limit). */
export const MAX_TITLE_LENGTH = MAX_NOTIFICATION_TITLE_LENGTH;
/** Longest body shown, characters (the protocol's limit). */
export const MAX_BODY_LENGTH = MAX_NOTIFICATION_BODY_LENGTH;
/** The notification tag of a session: one visible notification per session, replaced by newer ones. */
export const NOTIFICATION_TAG_PREFIX = "threadline:";

const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The notification in `data`, or undefined when it is not a version-1
 * `threadline.notification` (another app's push, a malformed payload). `data`
 * may be a push message's data (`event.data`, read with `text()`), a JSON
 * string, or an already parsed value (`notification.data`). Unknown extra
 * fields are dropped; a kind this version does not know is kept.
 * @example
 *   const n = parseThreadlineNotification(event.data);
 *   if (n) console.log(n.session, n.count);
 */
export function parseThreadlineNotification(data: unknown): ThreadlineNotification | undefined {
  const value = decodeData(data);
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.v !== 1 || v.type !== NOTIFICATION_TYPE) return undefined;
  const position = v.position as Record<string, unknown> | null | undefined;
  const valid =
    nonEmpty(v.id) &&
    nonEmpty(v.kind) &&
    typeof v.session === "string" &&
    SESSION_ID.test(v.session) &&
    nonEmpty(v.user) &&
    typeof position === "object" &&
    position !== null &&
    nonEmpty(position.epoch) &&
    Number.isSafeInteger(position.seq) &&
    (position.seq as number) >= 1 &&
    nonEmpty(position.id) &&
    Number.isSafeInteger(v.count) &&
    (v.count as number) >= 1 &&
    typeof v.title === "string" &&
    typeof v.body === "string" &&
    (v.url === undefined || typeof v.url === "string") &&
    typeof v.ts === "number" &&
    Number.isFinite(v.ts);
  if (!valid) return undefined;
  return {
    v: 1,
    type: "threadline.notification",
    id: v.id as string,
    kind: v.kind as string,
    session: v.session as string,
    user: v.user as string,
    position: { epoch: position.epoch as string, seq: position.seq as number, id: position.id as string },
    count: v.count as number,
    title: v.title as string,
    body: v.body as string,
    ...(v.url === undefined ? {} : { url: v.url as string }),
    ts: v.ts as number,
  };
}

/**
 * The default way to show a notification (pure): its title and body (cut to
 * the documented lengths), tag `threadline:<session>` so a newer notification
 * of the session replaces the older one, `renotify` so the replacement alerts
 * again, and the payload as `data` (the click handler reads it).
 */
export function notificationContent(notification: ThreadlineNotification): NotificationContent {
  return {
    title: notification.title.slice(0, MAX_TITLE_LENGTH),
    options: {
      body: notification.body.slice(0, MAX_BODY_LENGTH),
      tag: `${NOTIFICATION_TAG_PREFIX}${notification.session}`,
      renotify: true,
      data: notification,
    },
  };
}

/** A push message's data as a JSON value: `text()` of PushMessageData, a JSON string parsed, anything else as is. */
export function decodeData(data: unknown): unknown {
  let value = data;
  if (typeof value === "object" && value !== null && typeof (value as { text?: unknown }).text === "function") {
    value = (value as { text(): string }).text();
  }
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}
