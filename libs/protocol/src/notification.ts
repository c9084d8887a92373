/**
 * The offline-delivery notification (PROTOCOL.md §20): the JSON body of a
 * Threadline Web Push message and of its signed webhook. The notifier writes
 * it, the client's service-worker helper and applications read it. Pure and
 * free of imports, so a service worker can import it alone
 * (`@threadline/protocol/notification`).
 */

/** The kinds of trigger that notify a user (and that a user can turn off one by one). */
export const NOTIFICATION_KINDS = ["turn.end", "approval", "tool.call", "operator.message"] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** The payload's `type`. */
export const NOTIFICATION_TYPE = "threadline.notification";

/**
 * A `threadline.notification`, version 1. `K` is the kind's type: the
 * notifier writes a {@link NotificationKind}; readers accept kinds a newer
 * notifier may add (see {@link ThreadlineNotification}).
 */
export interface NotificationPayload<K extends string = NotificationKind> {
  v: 1;
  type: typeof NOTIFICATION_TYPE;
  /** `n.<epoch>.<session>.<seq>.<user>`: also the webhook's idempotency key without its channel suffix. */
  id: string;
  kind: K;
  session: string;
  user: string;
  /** The trigger (the last of a collapsed burst): where the session opens. */
  position: { epoch: string; seq: number; id: string };
  /** Triggers this notification stands for (≥ 1). */
  count: number;
  /** ≤ {@link MAX_NOTIFICATION_TITLE_LENGTH} characters. */
  title: string;
  /** ≤ {@link MAX_NOTIFICATION_BODY_LENGTH} characters. */
  body: string;
  /** Where a click leads (`THREADLINE_NOTIFY_OPEN_URL` with `{session}` filled in), when configured. */
  url?: string;
  /** The trigger's stream timestamp, ms since the Unix epoch. */
  ts: number;
}

/** A notification as a reader sees it: a kind this version does not know is kept (and still shown). */
export type ThreadlineNotification = NotificationPayload<NotificationKind | (string & {})>;

/** Longest encoded payload, bytes (Web Push services accept about 4 KiB after encryption). */
export const MAX_NOTIFICATION_PAYLOAD_BYTES = 3 * 1024;
/** Longest title, characters. */
export const MAX_NOTIFICATION_TITLE_LENGTH = 120;
/** Longest body, characters. */
export const MAX_NOTIFICATION_BODY_LENGTH = 400;
