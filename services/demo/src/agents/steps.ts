import type { Checklist } from "./checklist.ts";
import type { TurnContext } from "./pool.ts";
import { delay } from "./simulated-model.ts";

/** One step of an agent's work: what it shows, how long the simulated work takes, what it found. */
export interface Step {
  id: string;
  label: string;
  ms: number;
  /** Runs the (simulated) work; the returned text becomes the step's detail. */
  run: () => string | Promise<string>;
}

/** Simulated work is scaled by DEMO_WORK_SCALE (e.g. 0.5 for faster tests). */
const WORK_SCALE = Number(process.env.DEMO_WORK_SCALE ?? 1);

/**
 * Runs steps in order, publishing each as `running` then `done` (with its
 * detail); on cancel the current step ends `skipped` and the rest are not run.
 * Returns false when the turn was cancelled. With a `checklist`, the item of
 * the same id follows the step (running, done, skipped).
 */
export async function runSteps(ctx: TurnContext, steps: readonly Step[], checklist?: Checklist): Promise<boolean> {
  for (const step of steps) {
    await ctx.progress(step.id, "running", { label: step.label });
    await checklist?.mark(step.id, "running");
    await delay(step.ms * WORK_SCALE, ctx.signal);
    if (ctx.signal.aborted) {
      await ctx.progress(step.id, "skipped", { label: step.label, detail: "cancelled" });
      return false;
    }
    await ctx.progress(step.id, "done", { label: step.label, detail: await step.run() });
    await checklist?.mark(step.id, "done");
  }
  return true;
}
