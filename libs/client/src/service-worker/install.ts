import {
  decodeData,
  type NotificationContent,
  notificationContent,
  parseThreadlineNotification,
  type ThreadlineNotification,
  type ThreadlineNotificationOptions,
} from "./notification-payload.ts";

/** `ExtendableEvent`: the worker stays alive until the promise settles. */
export interface ExtendableEventLike {
  waitUntil(promise: Promise<unknown>): void;
}

/** `PushEvent`: `data` is null for a push without payload. */
export interface PushEventLike extends ExtendableEventLike {
  readonly data: { text(): string } | null;
}

/** `NotificationEvent` (`notificationclick`). */
export interface NotificationEventLike extends ExtendableEventLike {
  readonly notification: { readonly data: unknown; close(): void };
}

/** `pushsubscriptionchange`: the browser replaced or dropped the subscription; register the new one again. */
export interface PushSubscriptionChangeEventLike extends ExtendableEventLike {
  readonly oldSubscription?: unknown;
  readonly newSubscription?: unknown;
}

/** A `WindowClient`: a tab of the app. */
export interface WindowClientLike {
  readonly url: string;
  focus(): Promise<unknown>;
  postMessage(message: unknown): void;
}

/** The parts of `ServiceWorkerGlobalScope` (`self` in a service worker) the helper uses. */
export interface ServiceWorkerScopeLike {
  readonly registration: {
    readonly scope: string;
    showNotification(title: string, options?: ThreadlineNotificationOptions): Promise<void>;
  };
  readonly clients: {
    matchAll(options: { type: "window"; includeUncontrolled?: boolean }): Promise<readonly WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
  };
  addEventListener(type: "push", listener: (event: PushEventLike) => void): void;
  addEventListener(type: "notificationclick", listener: (event: NotificationEventLike) => void): void;
  addEventListener(type: "pushsubscriptionchange", listener: (event: PushSubscriptionChangeEventLike) => void): void;
  removeEventListener(type: "push", listener: (event: PushEventLike) => void): void;
  removeEventListener(type: "notificationclick", listener: (event: NotificationEventLike) => void): void;
  removeEventListener(type: "pushsubscriptionchange", listener: (event: PushSubscriptionChangeEventLike) => void): void;
}

/** What a page receives (`navigator.serviceWorker` `message` event) when a click focuses it. */
export interface ThreadlineOpenMessage {
  type: "threadline.open";
  session: string;
  position: ThreadlineNotification["position"];
}

export interface ThreadlineServiceWorkerOptions {
  /**
   * Your own rendering. Called for every push with the parsed notification
   * (undefined when the payload is not a Threadline one) and the decoded
   * data. Return the content to show, `null` to show nothing, or `undefined`
   * for the default (`notificationContent` for a Threadline notification,
   * nothing for other payloads). If it throws, a Threadline notification is
   * shown the default way.
   */
  render?: (
    notification: ThreadlineNotification | undefined,
    data: unknown,
  ) => NotificationContent | null | undefined | Promise<NotificationContent | null | undefined>;
  /**
   * Where a click leads: a URL (relative to the worker's scope) in which
   * `{session}` is replaced, or a function of the notification. Default: the
   * payload's `url`, else the scope.
   */
  openUrl?: string | ((notification: ThreadlineNotification) => string | undefined);
  /**
   * Which open window takes a click: it is focused and gets `threadline.open`
   * instead of a new window being opened; undefined = open `url` in a new
   * window. Gets the app's windows (controlled or not), the resolved URL and
   * the notification. Default: {@link windowShowing} (a window already at
   * `url`). A page that can switch sessions in place on `threadline.open`
   * may take any tab of the user (the demo does).
   */
  chooseWindow?: (
    windows: readonly WindowClientLike[],
    url: string,
    notification: ThreadlineNotification,
  ) => WindowClientLike | undefined;
  /** Called on `pushsubscriptionchange` (kept alive with `waitUntil`): subscribe again and register the result. */
  onPushSubscriptionChange?: (event: PushSubscriptionChangeEventLike) => unknown;
}

/**
 * The window already showing `url`, ignoring its `#…` fragment (pure): the
 * default `chooseWindow`, for apps that extend it.
 * @example
 *   chooseWindow: (windows, url, n) => windowShowing(windows, url) ?? windows.find((w) => isChatTab(w.url, n.user))
 */
export function windowShowing(windows: readonly WindowClientLike[], url: string): WindowClientLike | undefined {
  return windows.find((client) => client.url === url || withoutHash(client.url) === url);
}

/**
 * Wires a service worker for Threadline notifications (PROTOCOL.md §20).
 * `push`: shows the notification (tag `threadline:<session>`, `renotify`,
 * the payload as `data`); a payload that is not a v1 `threadline.notification`
 * is ignored unless `render` handles it. `notificationclick` on a Threadline
 * notification: closes it, then focuses a window already showing its URL (or
 * the one `chooseWindow` picks) and posts it
 * `{type: "threadline.open", session, position}`, else opens the URL
 * in a new window (the page attaches and catches up as usual). Returns a
 * function that removes the listeners.
 * @example
 *   // sw.ts
 *   import { installThreadlineServiceWorker } from "@threadline/client/service-worker";
 *   declare const self: ServiceWorkerGlobalScope;
 *   installThreadlineServiceWorker(self, { openUrl: "/chat?session={session}" });
 */
export function installThreadlineServiceWorker(
  scope: ServiceWorkerScopeLike,
  options: ThreadlineServiceWorkerOptions = {},
): () => void {
  const show = async (event: PushEventLike): Promise<void> => {
    const data = decodeData(event.data);
    const notification = parseThreadlineNotification(data);
    let content: NotificationContent | null | undefined;
    try {
      content = await options.render?.(notification, data);
    } catch (error) {
      if (!notification) throw error;
      content = undefined;
    }
    if (content === undefined && notification) content = notificationContent(notification);
    if (content) await scope.registration.showNotification(content.title, content.options);
  };

  const open = async (notification: ThreadlineNotification): Promise<void> => {
    const target = new URL(urlOf(notification, options.openUrl) ?? "", scope.registration.scope).href;
    const windows = await scope.clients.matchAll({ type: "window", includeUncontrolled: true });
    const showing = (options.chooseWindow ?? windowShowing)(windows, target, notification);
    if (!showing) {
      await scope.clients.openWindow(target);
      return;
    }
    const message: ThreadlineOpenMessage = {
      type: "threadline.open",
      session: notification.session,
      position: notification.position,
    };
    showing.postMessage(message);
    await showing.focus();
  };

  const onPush = (event: PushEventLike): void => event.waitUntil(show(event));
  const onClick = (event: NotificationEventLike): void => {
    const notification = parseThreadlineNotification(event.notification.data);
    if (!notification) return; // another part of the app owns it
    event.notification.close();
    event.waitUntil(open(notification));
  };
  const onChange = (event: PushSubscriptionChangeEventLike): void =>
    event.waitUntil(Promise.resolve().then(() => options.onPushSubscriptionChange?.(event)));

  scope.addEventListener("push", onPush);
  scope.addEventListener("notificationclick", onClick);
  if (options.onPushSubscriptionChange) scope.addEventListener("pushsubscriptionchange", onChange);
  return () => {
    scope.removeEventListener("push", onPush);
    scope.removeEventListener("notificationclick", onClick);
    scope.removeEventListener("pushsubscriptionchange", onChange);
  };
}

/** The URL a click opens, before resolving against the scope; undefined = the scope itself. */
function urlOf(
  notification: ThreadlineNotification,
  openUrl: ThreadlineServiceWorkerOptions["openUrl"],
): string | undefined {
  if (typeof openUrl === "function") return openUrl(notification) ?? notification.url;
  if (typeof openUrl === "string") return openUrl.replaceAll("{session}", encodeURIComponent(notification.session));
  return notification.url;
}

function withoutHash(url: string): string {
  const at = url.indexOf("#");
  return at === -1 ? url : url.slice(0, at);
}
