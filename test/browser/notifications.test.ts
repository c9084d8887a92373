import type { NotificationPayload } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import webPush from "web-push";
import { researchReply } from "../../services/demo/src/agents/research.ts";
import { findProduct } from "../../services/demo/src/catalog.ts";
import { notificationTarget } from "../../services/demo/src/sw/open-target.ts";
import { notifierRig, startNotifier } from "../integration/support/notifier.ts";
import { launchChromium, screenshotPath } from "./support/chromium.ts";
import { FlowContexts } from "./support/console-errors.ts";
import { agentMessage, messages, openCustomerPage, send } from "./support/demo-page.ts";
import { type DemoStack, startDemoStack } from "./support/demo-stack.ts";

/**
 * Offline delivery in real Chromium (issue 16): the demo's service worker
 * shows what the notifier sends, and a notification leads back into the
 * session. The whole demo stack runs (nats-server, gateway with a VAPID key,
 * presence, the agent processes, the demo server), plus the notifier.
 *
 * Headless Chromium has no push service it can reach (and its Push API is
 * off in Playwright's incognito contexts), so the notifier's Web Push goes to
 * the test kit's push service for a subscription registered for the user;
 * the decrypted body — the notifier's payload, built by
 * buildNotificationPayload — is then delivered to the demo's service worker
 * with the DevTools protocol (`ServiceWorker.deliverPushMessage`), as the
 * browser's push service would. The DevTools protocol cannot click a
 * notification, so the click is covered as its two halves: opening the URL a
 * click opens, and a tab getting `threadline.open` from the worker.
 */
let stack: DemoStack;
let browser: Browser;
const contexts = new FlowContexts();
/** A host name for the demo that is not a secure context (no service workers, no Push API). */
const INSECURE_HOST = "insecure.test";
/** What Chromium itself logs when a page subscribes in an incognito context (Playwright's contexts are). */
const INCOGNITO_PUSH = "Chrome currently does not support the Push API in incognito mode";
const QUESTION = "Research the Aurora headphones and compare them";

beforeAll(async () => {
  stack = await startDemoStack({
    gatewayEnv: { THREADLINE_VAPID_PUBLIC_KEY: webPush.generateVAPIDKeys().publicKey },
    extraHosts: [INSECURE_HOST],
  });
  browser = await launchChromium({ hostMap: [INSECURE_HOST] });
}, 120_000);

// Every flow ends without console errors or uncaught exceptions in its pages; the one Chromium message a
// flow provokes on purpose (subscribing in incognito) is the only one left out.
afterEach(async () => {
  expect(await contexts.closeAll([INCOGNITO_PUSH])).toEqual([]);
});

afterAll(async () => {
  await contexts.closeAll();
  await browser?.close();
  await stack?.close();
}, 60_000);

let sessions = 0;
const newSession = (name: string) => `push-${name}-${Date.now().toString(36)}-${sessions++}`;

async function newContext(options: { notifications?: boolean; width?: number } = {}): Promise<BrowserContext> {
  return contexts.open(browser, {
    viewport: { width: options.width ?? 1280, height: 800 },
    ...(options.notifications ? { permissions: ["notifications"] } : {}),
  });
}

const notifyButton = (page: Page, state: string) => page.locator(`[data-testid="notify"][data-state="${state}"]`);

/** The id of the demo's service-worker registration (DevTools protocol), once it is registered. */
async function registrationId(cdp: CDPSession, scope: string): Promise<string> {
  const seen = new Map<string, string>();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
    for (const r of registrations) if (!r.isDeleted) seen.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  await waitFor(() => seen.has(scope), { timeoutMs: 10_000, message: `no service worker registered for ${scope}` });
  return seen.get(scope)!;
}

/** At phone width (390 px) the control is wholly on screen and nothing scrolls sideways. */
async function onPhoneScreen(page: Page, control: ReturnType<typeof notifyButton>): Promise<void> {
  const box = (await control.boundingBox())!;
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(390);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
}

interface ShownNotification {
  title: string;
  body: string;
  tag: string;
  renotify: boolean;
  data: unknown;
}

/** The notifications the demo's service worker shows now (read from a page of its origin). */
function shownNotifications(page: Page): Promise<ShownNotification[]> {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const shown = (await registration?.getNotifications()) ?? [];
    // `renotify` is not in TypeScript's DOM types yet; Chromium has it.
    const renotify = (n: Notification) => (n as Notification & { renotify: boolean }).renotify;
    return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, renotify: renotify(n), data: n.data }));
  });
}

describe("notifications in Chromium", { timeout: 150_000 }, () => {
  it("the customer closes the tab during research: the notifier's push is shown by the demo's worker, and its URL opens the session caught up", async () => {
    const rig = await notifierRig({ nats: stack.nats });
    await startNotifier(rig, { THREADLINE_NOTIFY_OPEN_URL: `${stack.url}/?session={session}` });
    await rig.subscribe("alice");
    const session = newSession("away");
    const context = await newContext({ notifications: true });
    const chat = await openCustomerPage(context, stack.url, session, "alice");
    // The page registered the demo's worker at load (scope: the whole app) and reads the control's state.
    await notifyButton(chat, "off").waitFor();
    expect(await chat.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL)).toBe(
      `${stack.url}/sw.js`,
    );
    // A page of the origin that stays open (it is no customer view: it attaches nothing) to drive the worker.
    const keeper = await context.newPage();
    await keeper.goto(`${stack.url}/api/config`);
    const cdp = await context.newCDPSession(keeper);
    const registration = await registrationId(cdp, `${stack.url}/`);

    await send(chat, QUESTION);
    await agentMessage(chat, "research", "streaming").waitFor({ timeout: 30_000 });
    await chat.close(); // the customer leaves while the answer is still being written

    const delivery = await rig.push.next(
      (d) => (d.json as NotificationPayload | undefined)?.session === session,
      60_000,
    );
    const payload = delivery.json as NotificationPayload;
    expect(payload).toMatchObject({ v: 1, type: "threadline.notification", kind: "turn.end", user: "alice" });
    expect(payload.url).toBe(`${stack.url}/?session=${session}`);

    // Pushes that are not Threadline's are left alone (install.ts: no render given); the worker handles pushes
    // in order, so once the real one is shown, these two were handled before it.
    const deliver = (data: string) =>
      cdp.send("ServiceWorker.deliverPushMessage", { origin: stack.url, registrationId: registration, data });
    await deliver(JSON.stringify({ title: "Sale!", body: "50% off" }));
    await deliver("");
    await deliver(delivery.payload!);
    await waitFor(async () => (await shownNotifications(keeper)).length > 0, {
      timeoutMs: 15_000,
      message: "the service worker showed no notification",
    });
    expect(await shownNotifications(keeper)).toEqual([
      { title: payload.title, body: payload.body, tag: `threadline:${session}`, renotify: true, data: payload },
    ]);

    const title = payload.count === 1 ? "Your answer is ready" : `${payload.count} updates in your conversation`;
    expect(payload.title).toBe(title);

    // A click opens the URL the demo's worker computes from the payload (its user added): the page attaches the
    // session and catches up on what was written while nobody watched.
    const target = notificationTarget(payload, `${stack.url}/`);
    expect(target).toBe(`${stack.url}/?session=${session}&user=alice`);
    const opened = await context.newPage();
    await opened.goto(target);
    await agentMessage(opened, "research", "complete").waitFor({ timeout: 30_000 });
    const history = await messages(opened);
    expect(history.map((m) => m.author)).toEqual(["alice", "triage", "research"]);
    expect(history.at(-1)!.text).toBe(researchReply(findProduct(QUESTION)));
    await opened.screenshot({ path: screenshotPath("notification-opened") });
  });

  it("a click that focuses an open tab: the tab switches to the notified session in place and catches up", async () => {
    const context = await newContext();
    const earlier = newSession("earlier");
    const page = await openCustomerPage(context, stack.url, earlier, "alice");
    await send(page, "hello");
    await agentMessage(page, "triage", "complete").waitFor({ timeout: 30_000 });
    const before = await messages(page);
    // The tab moves on to a new conversation; then a notification about the earlier one is clicked.
    const now = newSession("now");
    await page.goto(`${stack.url}/?session=${now}&user=alice`);
    await page.getByTestId("connection-status").filter({ hasText: "connected" }).waitFor();
    await notifyButton(page, "off").waitFor(); // the worker is active
    expect(await messages(page)).toEqual([]);

    // What the worker's notificationclick posts to the tab it focuses (install.ts; its unit test covers the
    // worker's side, which the DevTools protocol cannot trigger): posted here from the real worker.
    const worker = context.serviceWorkers().find((w) => w.url() === `${stack.url}/sw.js`);
    expect(worker, "the demo's service worker runs").toBeDefined();
    const position = { epoch: "e", seq: 1, id: "ev" };
    await worker!.evaluate(
      async (message) => {
        const scope = self as unknown as {
          clients: { matchAll(o: object): Promise<{ postMessage(m: unknown): void }[]> };
        };
        for (const tab of await scope.clients.matchAll({ type: "window", includeUncontrolled: true }))
          tab.postMessage(message);
      },
      { type: "threadline.open", session: earlier, position },
    );
    await page.waitForURL(`${stack.url}/?session=${earlier}&user=alice`);
    await agentMessage(page, "triage", "complete").waitFor({ timeout: 30_000 });
    expect(await messages(page)).toEqual(before);
    // Back returns to the conversation it switched from.
    await page.goBack();
    await page.waitForURL(`${stack.url}/?session=${now}&user=alice`);
    await expect.poll(() => messages(page), { timeout: 15_000 }).toEqual([]);
  });

  it("Notify me: blocked when notifications are denied, says why a subscription failed, unsupported where push cannot work", async () => {
    // Permission denied (headless Chromium denies the prompt): asked only on the click, then blocked.
    const denied = await newContext({ width: 390 });
    const page = await openCustomerPage(denied, stack.url, newSession("denied"), "alice");
    const off = notifyButton(page, "off");
    await off.waitFor();
    expect(await page.evaluate(() => Notification.permission)).toBe("default");
    await off.click();
    await notifyButton(page, "blocked").waitFor();
    expect(await notifyButton(page, "blocked").isDisabled()).toBe(true);
    await expect.poll(() => page.getByTestId("notify-notice").textContent()).toContain("blocked");
    await onPhoneScreen(page, notifyButton(page, "blocked"));
    await page.screenshot({ path: screenshotPath("notify-blocked-phone") });

    // Permission granted, but the browser cannot subscribe (Chromium's Push API is off in incognito contexts):
    // the control stays off and says why, nothing throws.
    const granted = await newContext({ notifications: true });
    const grantedPage = await openCustomerPage(granted, stack.url, newSession("granted"), "alice");
    await notifyButton(grantedPage, "off").click();
    await expect
      .poll(() => grantedPage.getByTestId("notify-notice").textContent(), { timeout: 15_000 })
      .toContain("This browser could not subscribe");
    await notifyButton(grantedPage, "off").waitFor();

    // An origin that is not a secure context: no service worker, no Push API. The chat works, the control says so.
    const insecure = await newContext({ width: 390 });
    const insecurePage = await insecure.newPage();
    await insecurePage.goto(
      `http://${INSECURE_HOST}:${new URL(stack.url).port}/?session=${newSession("insecure")}&user=alice`,
    );
    await insecurePage.getByTestId("connection-status").filter({ hasText: "connected" }).waitFor();
    const unsupported = notifyButton(insecurePage, "unsupported");
    await unsupported.waitFor();
    expect(await unsupported.isDisabled()).toBe(true);
    expect(await unsupported.textContent()).toBe("Notifications unsupported");
    await onPhoneScreen(insecurePage, unsupported);
    await insecurePage.screenshot({ path: screenshotPath("notify-unsupported-phone") });
  });
});
