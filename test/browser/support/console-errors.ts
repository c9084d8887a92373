import type { Browser, BrowserContext, BrowserContextOptions } from "playwright-core";

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

/**
 * The browser contexts of a test file's current flow, each with its
 * console-error collector: `open` makes one, `closeAll` closes them all and
 * returns the errors they collected (minus those containing one of `ignore`:
 * messages a flow provokes on purpose, named where it does).
 */
export class FlowContexts {
  private readonly contexts = new Map<BrowserContext, ConsoleErrors>();

  async open(browser: Browser, options: BrowserContextOptions): Promise<BrowserContext> {
    const context = await browser.newContext(options);
    this.contexts.set(context, new ConsoleErrors(context));
    return context;
  }

  async closeAll(ignore: readonly string[] = []): Promise<string[]> {
    const errors = [...this.contexts.values()]
      .flatMap((c) => c.errors())
      .filter((e) => !ignore.some((i) => e.includes(i)));
    for (const context of this.contexts.keys()) await context.close().catch(() => {});
    this.contexts.clear();
    return errors;
  }
}
