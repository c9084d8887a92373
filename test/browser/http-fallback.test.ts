import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { researchReply } from "../../services/demo/src/agents/research.ts";
import { findProduct } from "../../services/demo/src/catalog.ts";
import { launchChromium, screenshotPath } from "./support/chromium.ts";
import { ConsoleErrors } from "./support/console-errors.ts";
import { type DemoStack, startDemoStack } from "./support/demo-stack.ts";

/**
 * The demo where WebSockets are blocked (issue 17): the client SDK's
 * `transport: "auto"` falls back to HTTP (Durable Streams: catch-up GET,
 * SSE, POST) and the product still works — an agent answer streams, a
 * refresh resumes with no gap or duplicate, Stop works from the other tab.
 * Two ways a network blocks them: the upgrade request is refused (the page's
 * gateway is behind a proxy that answers upgrades 403 and passes HTTP
 * through), or it is accepted and then nothing moves (a proxy that buffers
 * frames: Playwright answers the upgrade and never speaks). Every wait is on
 * a UI state.
 */
let stack: DemoStack;
let browser: Browser;
const contexts = new Map<BrowserContext, ConsoleErrors>();

beforeAll(async () => {
  stack = await startDemoStack({ refuseWebSocketUpgrades: true });
  browser = await launchChromium();
}, 120_000);

// No console error but the browser's own report of the blocked WebSocket (the point of the test).
afterEach(async () => {
  const errors = [...contexts.values()].flatMap((c) => c.errors());
  for (const c of contexts.keys()) await c.close().catch(() => {});
  contexts.clear();
  expect(errors.filter((e) => !/WebSocket connection to '.*\/v1\/ws' failed/.test(e))).toEqual([]);
});

afterAll(async () => {
  for (const c of contexts.keys()) await c.close().catch(() => {});
  await browser?.close();
  await stack?.close();
}, 60_000);

type Blocking = "refused" | "stalled";
let sessions = 0;
const newSession = (name: string) => `e2e-http-${name}-${Date.now().toString(36)}-${sessions++}`;

async function blockedContext(blocking: Blocking): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.set(context, new ConsoleErrors(context));
  // Stalled: the upgrade succeeds (Playwright answers it) and then not a single frame moves.
  if (blocking === "stalled") await context.routeWebSocket(/\/v1\/ws/, () => {});
  return context;
}

async function openCustomer(context: BrowserContext, session: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${stack.url}/?session=${session}&user=alice`);
  await connectedOverHttp(page);
  return page;
}

async function connectedOverHttp(page: Page): Promise<void> {
  await page.getByTestId("connection-status").filter({ hasText: "connected" }).waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="connection-transport"][data-transport="http"]').waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId("composer-input").fill(text);
  await page.getByTestId("send").click();
}

const agentMessage = (page: Page, agent: string, status?: string) =>
  page.locator(`[data-testid="message"][data-author="${agent}"]${status ? `[data-status="${status}"]` : ""}`);

function messages(page: Page) {
  return page.getByTestId("message").evaluateAll((nodes) =>
    nodes.map((n) => ({
      id: n.getAttribute("data-message-id") ?? "",
      author: n.getAttribute("data-author") ?? "",
      status: n.getAttribute("data-status") ?? "",
      text: n.querySelector('[data-testid="message-text"]')?.textContent ?? "",
    })),
  );
}

describe("demo with WebSockets blocked", { timeout: 120_000 }, () => {
  it.each<Blocking>(["refused", "stalled"])(
    "upgrade %s: an answer streams over HTTP, a refresh mid-stream resumes with no gap or duplicate",
    async (blocking) => {
      const session = newSession(`stream-${blocking}`);
      const context = await blockedContext(blocking);
      const a = await openCustomer(context, session);
      const b = await openCustomer(context, session);
      const question = "Research the Aurora headphones and compare them";
      await send(a, question);
      // The reply streams into both tabs over HTTP.
      for (const page of [a, b]) await agentMessage(page, "research", "streaming").waitFor({ timeout: 30_000 });
      await expect
        .poll(async () => (await agentMessage(b, "research").getByTestId("message-text").textContent())?.length ?? 0, {
          timeout: 30_000,
        })
        .toBeGreaterThan(40);
      await b.reload();
      await connectedOverHttp(b);
      for (const page of [a, b]) await agentMessage(page, "research", "complete").waitFor({ timeout: 30_000 });
      const inA = await messages(a);
      const inB = await messages(b);
      // The refreshed tab shows exactly what the other one shows: same messages, same text, nothing twice.
      expect(inB).toEqual(inA);
      expect(inA.map((m) => m.author)).toEqual(["alice", "triage", "research"]);
      expect(new Set(inA.map((m) => m.id)).size).toBe(inA.length);
      expect(inA.at(-1)!.text).toBe(researchReply(findProduct(question)));
      // Both tabs applied the same events: their resume positions agree.
      const position = (page: Page) => page.getByTestId("resume-position").getAttribute("data-seq");
      await expect
        .poll(
          async () => {
            const [inTabA, inTabB] = await Promise.all([position(a), position(b)]);
            return Number(inTabA) > 0 && inTabA === inTabB;
          },
          { timeout: 30_000 },
        )
        .toBe(true);
      await b.screenshot({ path: screenshotPath(`http-fallback-${blocking}`) });
    },
  );

  it("both tabs are present over HTTP, and Stop in the other tab cancels a research task", async () => {
    const session = newSession("stop");
    const context = await blockedContext("refused");
    const a = await openCustomer(context, session);
    const b = await openCustomer(context, session);
    // Each tab reads over HTTP and is present: both see alice with two devices.
    for (const page of [a, b]) {
      await page.locator('[data-testid="member"][data-kind="user"][data-id="alice"][data-devices="2"]').waitFor();
    }
    await send(a, "Research the Nimbus laptop and compare it");
    const research = (page: Page) => page.locator('[data-testid="turn"][data-agent="research"]');
    for (const page of [a, b]) {
      await research(page).locator('[data-testid="step"][data-step="search"][data-status="done"]').waitFor({
        timeout: 30_000,
      });
    }
    await b.getByTestId("stop").click();
    for (const page of [a, b]) {
      await research(page).and(page.locator('[data-status="cancelled"]')).waitFor({ timeout: 15_000 });
    }
    // The cancelled turn did not go on: no research reply was written.
    expect(await research(a).locator('[data-step="reviews"][data-status="done"]').count()).toBe(0);
    expect(await agentMessage(a, "research").count()).toBe(0);
    for (const page of [a, b])
      await page.locator('[data-testid="connection-transport"][data-transport="http"]').waitFor();
  });
});
