import {
  MAX_NOTIFICATION_BODY_LENGTH,
  MAX_NOTIFICATION_PAYLOAD_BYTES,
  MAX_NOTIFICATION_TITLE_LENGTH,
  NOTIFICATION_TYPE,
  type NotificationPayload,
} from "@threadline/protocol";
import type { Trigger } from "./trigger.ts";

/**
 * The notification (the Web Push body and the webhook body): the protocol's
 * `NotificationPayload` (PROTOCOL.md §20), JSON, at most
 * {@link MAX_PAYLOAD_BYTES} encoded. Apps may render their own text from the
 * fields; `title` and `body` are the notifier's.
 */
export type { NotificationPayload };

export const MAX_PAYLOAD_BYTES = MAX_NOTIFICATION_PAYLOAD_BYTES;
export const MAX_TITLE_LENGTH = MAX_NOTIFICATION_TITLE_LENGTH;
export const MAX_BODY_LENGTH = MAX_NOTIFICATION_BODY_LENGTH;
/** Longest excerpt of a message text in a body. */
export const MAX_EXCERPT_LENGTH = 200;

/**
 * `text` with runs of white space folded to one space, trimmed, and cut to
 * `max` characters (code points) ending in "…" when longer (pure).
 * @example excerpt("Hello   world", 8) // "Hello w…"
 */
export function excerpt(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, " ").trim());
  if (chars.length <= max) return chars.join("");
  if (max < 1) return "";
  return `${chars
    .slice(0, Math.max(0, max - 1))
    .join("")
    .trimEnd()}…`;
}

/**
 * Title and body of one trigger (pure). `turnText` is the turn's last message
 * text, when the notifier could read it (a completed turn's body).
 */
export function triggerContent(trigger: Trigger, turnText?: string): { title: string; body: string } {
  switch (trigger.kind) {
    case "turn.end":
      if (trigger.status === "completed") {
        const text = turnText === undefined ? "" : excerpt(turnText, MAX_EXCERPT_LENGTH);
        return { title: "Your answer is ready", body: text || "The agent finished." };
      }
      return { title: "The agent could not finish", body: "Open the conversation to see what happened." };
    case "approval":
      return { title: "Approval needed", body: trigger.text ?? "" };
    case "tool.call":
      return { title: "Your device is needed", body: trigger.text ?? "" };
    case "operator.message":
      return { title: "New message from support", body: excerpt(trigger.text ?? "", MAX_EXCERPT_LENGTH) };
  }
}

export interface PayloadInput {
  /** The notification id (`notificationId` of the last member and the user). */
  id: string;
  epoch: string;
  user: string;
  /** The triggers it stands for, oldest first; the last is its position. */
  members: readonly Trigger[];
  /** The last member's turn text (see {@link triggerContent}). */
  turnText?: string;
  /** `THREADLINE_NOTIFY_OPEN_URL`: `{session}` is replaced by the URL-encoded session id. */
  openUrl?: string;
}

/**
 * The notification for a burst (pure): count 1 → the trigger's own title
 * and body; count > 1 → "<count> updates in your conversation" with the last
 * one's title as body. Title ≤ 120 and body ≤ 400 characters; the body is
 * shortened further if the encoded payload would exceed 3 KiB.
 */
export function buildNotificationPayload(input: PayloadInput): NotificationPayload {
  const last = input.members.at(-1);
  if (!last) throw new RangeError("a notification stands for at least one trigger");
  const count = input.members.length;
  const own = triggerContent(last, input.turnText);
  const content = count === 1 ? own : { title: `${count} updates in your conversation`, body: own.title };
  const payload: NotificationPayload = {
    v: 1,
    type: NOTIFICATION_TYPE,
    id: input.id,
    kind: last.kind,
    session: last.session,
    user: input.user,
    position: { epoch: input.epoch, seq: last.seq, id: last.eventId },
    count,
    title: excerpt(content.title, MAX_TITLE_LENGTH),
    body: excerpt(content.body, MAX_BODY_LENGTH),
    ...(input.openUrl === undefined
      ? {}
      : { url: input.openUrl.replaceAll("{session}", encodeURIComponent(last.session)) }),
    ts: last.ts,
  };
  while (payloadBytes(payload) > MAX_PAYLOAD_BYTES && payload.body.length > 0) {
    payload.body = excerpt(payload.body, Math.floor(Array.from(payload.body).length * 0.75));
  }
  return payload;
}

/** The encoded size of a payload, bytes. */
export function payloadBytes(payload: NotificationPayload): number {
  return Buffer.byteLength(JSON.stringify(payload));
}
