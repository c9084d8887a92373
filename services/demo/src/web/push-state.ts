/**
 * The "Notify me" control's state, decided from what the browser says
 * (pure, so it has a table test; the browser calls live in
 * push-notifications.ts):
 *
 * | state | when |
 * | --- | --- |
 * | `unsupported` | no Push API here (an insecure origin, an old browser, a server without push) |
 * | `blocked` | the user (or the browser) denied notifications for this site |
 * | `on` | permission granted and this browser holds a subscription with the server's key |
 * | `off` | anything else: the button asks for permission and subscribes |
 */
export type NotifyState = "off" | "on" | "blocked" | "unsupported";

export interface PushFacts {
  /** Service workers, the Push API and notifications all exist in this context. */
  supported: boolean;
  /** `Notification.permission`. */
  permission: NotificationPermission;
  /** A push subscription exists (for the server's current key). */
  subscribed: boolean;
}

/**
 * @example notifyState({ supported: true, permission: "granted", subscribed: true }) // "on"
 */
export function notifyState(facts: PushFacts): NotifyState {
  if (!facts.supported) return "unsupported";
  if (facts.permission === "denied") return "blocked";
  return facts.permission === "granted" && facts.subscribed ? "on" : "off";
}

/** The control's label per state. */
export const NOTIFY_LABEL: Record<NotifyState, string> = {
  off: "Notify me",
  on: "Notifications on",
  blocked: "Notifications blocked",
  unsupported: "Notifications unsupported",
};

/**
 * Whether a subscription was made with `publicKey` (base64url, as the
 * gateway serves it); false when it cannot tell (pure). A subscription made
 * with another key (the server's keys were regenerated) gets no pushes and is
 * replaced.
 */
export function sameApplicationServerKey(key: ArrayBuffer | null | undefined, publicKey: string): boolean {
  if (!key) return false;
  const bytes = new Uint8Array(key);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  const encoded = btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return encoded === publicKey.replace(/=+$/, "");
}
