import type { BrowserContext } from "playwright-core";

/**
 * Collects every console error and uncaught page error of a browser context
 * (all its pages, including ones opened later). The browser suite asserts
 * the list is empty at the end of each flow: a CORS failure, a failed
 * request or an exception in the demo is a bug even when the UI recovers.
 */
export class ConsoleErrors {
  private readonly seen: string[] = [];

  constructor(context: BrowserContext) {
    context.on("console", (message) => {
      if (message.type() !== "error") return;
      const where = message.location().url;
      this.seen.push(`console.error: ${message.text()}${where ? ` (${where})` : ""}`);
    });
    context.on("weberror", (error) => {
      this.seen.push(`pageerror: ${error.error().stack ?? error.error().message}`);
    });
  }

  /** Everything collected so far, in arrival order. */
  errors(): string[] {
    return [...this.seen];
  }
}
