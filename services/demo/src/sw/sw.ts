import { installThreadlineServiceWorker, type ServiceWorkerScopeLike } from "@threadline/client/service-worker";
import { chooseDemoWindow, notificationTarget } from "./open-target.ts";

/**
 * The demo's service worker (`/sw.js`, built by `vite build` as a classic
 * script, see src/build/service-worker-plugin.ts): Threadline notifications
 * through the client SDK's helper. A push shows the notification (tag
 * `threadline:<session>`); a click focuses a tab of the user — which
 * switches to the session in place — or opens the session's customer view.
 * Either way the page attaches and catches up as usual. A subscription the
 * browser replaces is registered again by the page on its next load (it
 * registers its current subscription every time; the worker holds no token).
 */
declare const self: ServiceWorkerScopeLike & {
  skipWaiting(): Promise<void>;
  addEventListener(type: "install", listener: () => void): void;
};

// A new build takes over at once: the worker keeps no state that an old page depends on.
self.addEventListener("install", () => void self.skipWaiting());
installThreadlineServiceWorker(self, {
  openUrl: (notification) => notificationTarget(notification, self.registration.scope),
  chooseWindow: chooseDemoWindow,
});
