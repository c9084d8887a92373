/**
 * The offline-delivery notification payload (PROTOCOL.md §20): the JSON body
 * of a Threadline Web Push message and of its signed webhook. Pure, and free
 * of imports so a service worker bundle stays small.
 */

/** The kinds of trigger that notify a user. */
export type NotificationKind = "turn.end" | "approval" | "tool.call" | "operator.message";

/** A parsed `threadline.notification`, version 1. */
export interface ThreadlineNotification {
  v: 1;
  type: "threadline.notification";
  /** `n.<epoch>.<session>.<seq>.<user>`: also the webhook's idempotency key without its channel suffix. */
  id: string;
  /** One of {@link NotificationKind}; a newer gateway may send kinds this version does not know (still shown). */
  kind: NotificationKind | (string & {});
  session: string;
  user: string;
  /** The trigger (the last of a collapsed burst): resume or scroll there. */
  position: { epoch: string; seq: number; id: string };
  /** Triggers this notification stands for (≥ 1). */
  count: number;
  /** ≤ {@link MAX_TITLE_LENGTH} characters. */
  title: string;
  /** ≤ {@link MAX_BODY_LENGTH} characters. */
  body: string;
  /** Where a click leads (`THREADLINE_NOTIFY_OPEN_URL` with `{session}` filled in), when configured. */
  url?: string;
  /** The trigger's stream timestamp, ms since the epoch. */
  ts: number;
}

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

export const MAX_TITLE_LENGTH = 120;
export const MAX_BODY_LENGTH = 400;
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
  if (v.v !== 1 || v.type !== "threadline.notification") return undefined;
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
