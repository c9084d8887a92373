import { createHash } from "node:crypto";

/**
 * The keys of the notify bucket (`threadline-notify`), in one place. Every
 * key is `[A-Za-z0-9_=/-]` tokens joined by `.` and at most 256 characters
 * (`checkTriggerKey`), whatever the ids in it:
 *
 * | key | what |
 * | --- | --- |
 * | `n.<epoch>.<session>.<seq>.<user>.<channel>` | a notification's claim per channel (`NotificationClaims`) |
 * | `dead.<claim key>` | its dead letter (`DeadLetters`) |
 * | `m.<session>.<user>` | the user's burst mark in a session (`NotificationMarks`) |
 * | `r.<user>.<window>` | the user's rate counter in a window (`NotificationRate`) |
 *
 * Ids are used as they are when they are tokens of at most
 * {@link MAX_PLAIN_KEY_TOKEN} characters; a longer id (session and
 * participant ids may have 128) or an epoch outside the token grammar is
 * replaced by `h=` + 22 base64url characters of its SHA-256, so that the
 * longest key stays far below the limit. An id never contains `=`, so a
 * hashed token cannot equal a plain one.
 */
export const MAX_PLAIN_KEY_TOKEN = 64;

/** The delivery channels of a notification: Web Push and the signed webhook. */
export const NOTIFY_CHANNELS = ["push", "hook"] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

const PLAIN = /^[A-Za-z0-9_-]+$/;

/**
 * An id as a notify-bucket key token (see the table above).
 * @example notifyKeyToken("s1") // "s1"; a 128-character id → "h=…" (24 characters)
 */
export function notifyKeyToken(id: string): string {
  if (id.length > 0 && id.length <= MAX_PLAIN_KEY_TOKEN && PLAIN.test(id)) return id;
  return `h=${createHash("sha256").update(id).digest("base64url").slice(0, 22)}`;
}

/** Where a notification stands in the stream: the trigger it is about and the user it is for. */
export interface NotificationTarget {
  epoch: string;
  session: string;
  seq: number;
  user: string;
}

/**
 * A notification's id, `n.<epoch>.<session>.<seq>.<user>`: one per (trigger, user); also the
 * payload's `id` and, with the channel appended, its claim key and idempotency key.
 * @example notificationId({ epoch: "0abc", session: "s1", seq: 42, user: "u1" }) // "n.0abc.s1.42.u1"
 */
export function notificationId(target: NotificationTarget): string {
  if (!Number.isSafeInteger(target.seq) || target.seq < 1) throw new RangeError(`invalid seq ${target.seq}`);
  const { epoch, session, seq, user } = target;
  return `n.${notifyKeyToken(epoch)}.${notifyKeyToken(session)}.${seq}.${notifyKeyToken(user)}`;
}

/** The claim key (and webhook idempotency key) of a notification on one channel: `<notification id>.<channel>`. */
export function notificationClaimKey(id: string, channel: NotifyChannel): string {
  return `${id}.${channel}`;
}

/** The dead letter of a claim: `dead.<claim key>`. */
export function deadLetterKey(claimKey: string): string {
  return `dead.${claimKey}`;
}

/** A user's burst mark in a session: `m.<session>.<user>`. */
export function burstMarkKey(session: string, user: string): string {
  return `m.${notifyKeyToken(session)}.${notifyKeyToken(user)}`;
}

/** A user's rate counter for window number `window` (`floor(time / windowMs)`): `r.<user>.<window>`. */
export function rateKey(user: string, window: number): string {
  if (!Number.isSafeInteger(window) || window < 0) throw new RangeError(`invalid window ${window}`);
  return `r.${notifyKeyToken(user)}.${window}`;
}
