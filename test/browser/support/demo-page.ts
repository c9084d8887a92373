import type { BrowserContext, Page } from "playwright-core";

/** One chat message as the customer view renders it (data-testid attributes). */
export interface RenderedMessage {
  id: string;
  kind: string;
  author: string;
  status: string;
  text: string;
}

/** Opens the customer view of `session` as `user` in a new page of `context` and waits until it is connected. */
export async function openCustomerPage(
  context: BrowserContext,
  baseUrl: string,
  session: string,
  user: string,
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/?session=${session}&user=${user}`);
  await page.getByTestId("connection-status").filter({ hasText: "connected" }).waitFor();
  return page;
}

/** The chat's messages, in order. */
export function messages(page: Page): Promise<RenderedMessage[]> {
  return page.getByTestId("message").evaluateAll((nodes) =>
    nodes.map((n) => ({
      id: n.getAttribute("data-message-id") ?? "",
      kind: n.getAttribute("data-author-kind") ?? "",
      author: n.getAttribute("data-author") ?? "",
      status: n.getAttribute("data-status") ?? "",
      text: n.querySelector('[data-testid="message-text"]')?.textContent ?? "",
    })),
  );
}

/** Types `text` into the composer and sends it. */
export async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId("composer-input").fill(text);
  await page.getByTestId("send").click();
}

/** The assistant message of `agent` (participant id) whose status is `status`. */
export const agentMessage = (page: Page, agent: string, status?: string) =>
  page.locator(`[data-testid="message"][data-author="${agent}"]${status ? `[data-status="${status}"]` : ""}`);
