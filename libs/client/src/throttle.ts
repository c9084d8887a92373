/**
 * Leading-and-trailing throttle: `schedule()` runs the task at once if it last
 * did something at least `intervalMs` ago, else once at the end of the
 * interval; calls in between coalesce into that one run. The task returns
 * whether it did something (a no-op run does not start a new interval).
 */
export class Throttle {
  private lastRun = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly task: () => boolean,
  ) {}

  schedule(): void {
    if (this.timer !== undefined) return;
    const wait = this.lastRun + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.runNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runNow();
    }, wait);
  }

  /** Runs the task now (cancelling a scheduled run). */
  runNow(): void {
    this.cancel();
    if (this.task()) this.lastRun = Date.now();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
