import { killOnExit } from "./worker-process.ts";

/**
 * Teardown registered right after each resource is created, run in reverse
 * order. Errors in one step do not skip the others; they are logged.
 */
export class Cleanup {
  private readonly steps: { what: string; fn: () => unknown }[] = [];

  defer(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  /**
   * A child process (nats-server, gateway, worker): SIGKILLed if the bench
   * exits before the cleanup runs (`killOnExit`), stopped by `stop` when it runs.
   */
  deferProcess(what: string, pid: number | undefined, stop: () => Promise<unknown>): void {
    const forget = killOnExit(pid);
    this.defer(what, async () => {
      await stop();
      forget();
    });
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (error) {
        console.error(`cleanup (${step.what}) failed:`, error);
      }
    }
  }
}
