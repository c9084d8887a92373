import type { ThreadlineNotification, WindowClientLike } from "@threadline/client/service-worker";
import { windowShowing } from "@threadline/client/service-worker";
import { customerPath, DEFAULT_CUSTOMER, readCustomerUrl } from "../customer-url.ts";

/**
 * Where a click on a notification leads in the demo (pure): the payload's
 * `url` (the notifier's `THREADLINE_NOTIFY_OPEN_URL`) when it is on this
 * worker's origin, else the customer view of its session on this origin —
 * either with the notification's user added when it is not the default, so
 * the page opens as the person it was meant for.
 * @example notificationTarget({ session: "s1", user: "alice" }, "http://127.0.0.1:5173/")
 *   // "http://127.0.0.1:5173/?session=s1&user=alice"
 */
export function notificationTarget(
  notification: Pick<ThreadlineNotification, "session" | "user" | "url">,
  scope: string,
): string {
  const origin = new URL(scope).origin;
  const given = notification.url === undefined ? undefined : new URL(notification.url, scope);
  const url = given?.origin === origin ? given : new URL(customerPath(notification.session, DEFAULT_CUSTOMER), scope);
  if (notification.user !== DEFAULT_CUSTOMER && !url.searchParams.has("user")) {
    url.searchParams.set("user", notification.user);
  }
  return url.href;
}

/**
 * The tab that takes a click (pure): one already showing `url`, else a
 * customer tab of the notification's user — the page switches to the session
 * in place when it gets `threadline.open` — else none (a new tab opens).
 */
export function chooseDemoWindow(
  windows: readonly WindowClientLike[],
  url: string,
  notification: Pick<ThreadlineNotification, "user">,
): WindowClientLike | undefined {
  return (
    windowShowing(windows, url) ??
    windows.find((client) => readCustomerUrl(new URL(client.url))?.user === notification.user)
  );
}
