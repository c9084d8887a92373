/**
 * `@threadline/client/service-worker`: show Threadline notifications in a
 * service worker and open the session on click (PROTOCOL.md §20). Free of
 * Node built-ins and of the client's runtime: import it from your `sw.js`.
 */
export type {
  ExtendableEventLike,
  NotificationEventLike,
  PushEventLike,
  PushSubscriptionChangeEventLike,
  ServiceWorkerScopeLike,
  ThreadlineOpenMessage,
  ThreadlineServiceWorkerOptions,
  WindowClientLike,
} from "./install.ts";
export { installThreadlineServiceWorker, windowShowing } from "./install.ts";
export type {
  NotificationContent,
  NotificationKind,
  ThreadlineNotification,
  ThreadlineNotificationOptions,
} from "./notification-payload.ts";
export {
  MAX_BODY_LENGTH,
  MAX_TITLE_LENGTH,
  NOTIFICATION_TAG_PREFIX,
  notificationContent,
  parseThreadlineNotification,
} from "./notification-payload.ts";
