import { ErrorCode, type ThreadlineNotifications } from "@threadline/client";
import { type NotifyState, notifyState, sameApplicationServerKey } from "./push-state.ts";

/** The control's state and, when something needs saying (why it is off, blocked or unsupported), one sentence. */
export interface PushStatus {
  state: NotifyState;
  detail?: string;
}

const UNSUPPORTED: PushStatus = {
  state: "unsupported",
  detail: "This page cannot get push notifications here (it needs https or localhost and a browser with the Push API).",
};
const PUSH_OFF_ON_SERVER: PushStatus = {
  state: "unsupported",
  detail: "The server has push notifications off (no VAPID key).",
};
const BLOCKED: PushStatus = {
  state: "blocked",
  detail: "Notifications are blocked for this site: allow them in the browser's site settings.",
};

/** Service workers, the Push API and notifications exist here (a secure context: https, localhost, 127.0.0.1). */
export function pushSupported(): boolean {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

let registration: Promise<ServiceWorkerRegistration> | undefined;

/**
 * Registers the demo's service worker (`/sw.js`, scope `/`: src/sw/sw.ts)
 * once per page and resolves when it is active. Call only when
 * {@link pushSupported}.
 */
export function demoServiceWorker(): Promise<ServiceWorkerRegistration> {
  registration ??= navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready);
  return registration;
}

/** The gateway's VAPID key, or undefined when the server has push off (`PUSH_DISABLED`). */
async function serverKey(notifications: ThreadlineNotifications): Promise<string | undefined> {
  try {
    return await notifications.vapidPublicKey();
  } catch (error) {
    if ((error as { code?: unknown }).code === ErrorCode.PUSH_DISABLED) return undefined;
    throw error;
  }
}

/**
 * This browser's subscription for `key`, made now when there is none (or
 * only one for another key: the server's keys were regenerated), and
 * registered with the gateway for the signed-in user. `register` is
 * idempotent, so doing this on every page load keeps the server's copy
 * current (a subscription the browser replaced is picked up here).
 */
async function subscribeAndRegister(notifications: ThreadlineNotifications, key: string): Promise<void> {
  const { pushManager } = await demoServiceWorker();
  let subscription = await pushManager.getSubscription();
  if (subscription && !sameApplicationServerKey(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await notifications.register(subscription);
}

/**
 * The state at page load. When it is `on`, the subscription is registered
 * again (see {@link subscribeAndRegister}); asks nothing of the user.
 */
export async function currentPushStatus(notifications: ThreadlineNotifications): Promise<PushStatus> {
  if (!pushSupported()) return UNSUPPORTED;
  const { pushManager } = await demoServiceWorker();
  const subscribed = (await pushManager.getSubscription()) !== null;
  const state = notifyState({ supported: true, permission: Notification.permission, subscribed });
  if (state === "blocked") return BLOCKED;
  if (state === "off") return { state };
  const key = await serverKey(notifications);
  if (key === undefined) return PUSH_OFF_ON_SERVER;
  await subscribeAndRegister(notifications, key);
  return { state: "on" };
}

/**
 * "Notify me": asks for permission (call it from the click itself: browsers
 * allow the prompt only on a user gesture), subscribes with the gateway's
 * VAPID key and registers the subscription. Rejects when the browser's push
 * service refuses (the caller shows why and stays `off`).
 */
export async function enablePush(notifications: ThreadlineNotifications): Promise<PushStatus> {
  if (!pushSupported()) return UNSUPPORTED;
  const permission = await Notification.requestPermission();
  if (permission === "denied") return BLOCKED;
  if (permission !== "granted") return { state: "off", detail: "Notifications were not allowed." };
  const key = await serverKey(notifications);
  if (key === undefined) return PUSH_OFF_ON_SERVER;
  await subscribeAndRegister(notifications, key);
  return { state: "on" };
}

/** Turns notifications off for this browser: the gateway forgets the subscription, then the browser drops it. */
export async function disablePush(notifications: ThreadlineNotifications): Promise<PushStatus> {
  const { pushManager } = await demoServiceWorker();
  const subscription = await pushManager.getSubscription();
  if (subscription) {
    await notifications.unregister(subscription);
    await subscription.unsubscribe();
  }
  return { state: "off" };
}
