import { join } from "node:path";
import { launchChromium, screenshotPath } from "./support/chromium.ts";
import { startDemoStack } from "./support/demo-stack.ts";

/**
 * Makes the README's screenshot (test/browser/screenshots/demo.png) against
 * the whole demo stack: a store search, a viewed product and a cart (shared
 * state), then a purchase and a return running at once with their steps and
 * the order checklist live, a second tab, and the session timeline.
 * Not a test; run it after changing the page:
 *
 *   node --import tsx test/browser/readme-screenshot.ts
 */
const stack = await startDemoStack();
const browser = await launchChromium();
try {
  const context = await browser.newContext({
    viewport: { width: 1360, height: 860 },
    geolocation: { latitude: 52.51, longitude: 13.42 },
    // Notifications granted: the header shows "Notify me" (Playwright denies what a context is not granted).
    permissions: ["geolocation", "notifications"],
  });
  const session = `readme-${Date.now().toString(36)}`;
  const open = async () => {
    const page = await context.newPage();
    await page.goto(`${stack.url}/?session=${session}&user=alice`);
    await page.getByTestId("connection-status").filter({ hasText: "connected" }).waitFor();
    return page;
  };
  const page = await open();
  await open(); // "You + 1 other device"
  const send = async (text: string) => {
    await page.getByTestId("composer-input").fill(text);
    await page.getByTestId("send").click();
  };
  await send("Find a store near me");
  await page.locator('[data-testid="message"][data-author="stores"][data-status="complete"]').waitFor();
  const aurora = page.locator('[data-testid="product"][data-sku="HP-900"]');
  await aurora.getByTestId("view-product").click();
  await aurora.getByTestId("add-to-cart").click();
  await page.locator('[data-testid="cart-item"][data-sku="HP-900"]').waitFor();
  await send("I want to buy the Aurora headphones and return order 1042");
  // Both specialists mid-way: some steps done, one running in each.
  for (const agent of ["orders", "returns"]) {
    await page
      .locator(`[data-testid="turn"][data-agent="${agent}"] [data-testid="step"][data-status="done"]`)
      .nth(1)
      .waitFor({ timeout: 30_000 });
  }
  await page.getByTestId("timeline-toggle").click();
  await page.screenshot({ path: screenshotPath("demo") });
  console.log(`wrote ${join("test/browser/screenshots", "demo.png")}`);
} finally {
  await browser.close();
  await stack.close();
}
