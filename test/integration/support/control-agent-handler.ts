import { ThreadlineError, type TurnContext } from "@threadline/agent";
import { newId } from "@threadline/protocol";

/** Pause between streamed deltas of the scripted handler. */
export const DELTA_INTERVAL_MS = 10;

/** Wall clock in ms with sub-ms resolution, comparable across processes on one machine. */
function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The test agent's behaviour, chosen by the input text:
 * - `stream N`: one assistant message of N deltas (`"<i> "`), one every 10 ms; a steer received
 *   meanwhile is echoed into the output as `[steer: <text>]`; a cancel ends the message `cancelled`.
 *   A resumed turn (takeover) first publishes a note, then streams its message from the start.
 * - `tool <timeoutMs>`: calls the client tool `geolocation` and reports the answer (or the error
 *   code) in a `note`.
 * - `approve`: asks for approval of `deploy` and reports the answer in a `note`.
 * - `approve-operator`: the same for `refund`, answerable by operators only.
 * - `wait`: waits for the cancel.
 * - `signal-probe` (benchmark): publishes `armed`, waits for the cancel, reports when the signal fired (wall clock).
 * - `tool-probe N` (benchmark): N client tool calls in a row, reporting each one's duration.
 */
export async function scriptedHandler(ctx: TurnContext): Promise<void> {
  const [command, arg] = (ctx.text ?? "").split(" ");
  if (ctx.resumed) {
    await ctx.publish({ type: "note", data: { text: "resumed", interrupted: ctx.resumed.interrupted } });
  }
  switch (command) {
    case "stream":
      return stream(ctx, Number(arg));
    case "tool":
      try {
        const answer = await ctx.callClientTool("geolocation", { precise: true }, { timeoutMs: Number(arg) });
        await ctx.publish({ type: "note", data: { text: "tool answered", answer } });
      } catch (error) {
        const code = error instanceof ThreadlineError ? error.code : String(error);
        await ctx.publish({ type: "note", data: { text: "tool failed", code } });
      }
      return;
    case "approve": {
      const answer = await ctx.requestApproval("deploy", { details: { env: "prod" }, timeoutMs: 10_000 });
      await ctx.publish({ type: "note", data: { text: "approval", answer } });
      return;
    }
    case "approve-operator": {
      // Only an operator may approve (e.g. a refund above the agent's limit).
      const answer = await ctx.requestApproval("refund", { approvers: ["operator"], timeoutMs: 10_000 });
      await ctx.publish({ type: "note", data: { text: "approval", answer } });
      return;
    }
    case "wait":
      await new Promise((resolve) => {
        if (ctx.signal.aborted) resolve(undefined);
        ctx.signal.addEventListener("abort", resolve, { once: true });
      });
      return;
    case "signal-probe": {
      const fired = new Promise<number>((resolve) => {
        if (ctx.signal.aborted) resolve(wallClockMs());
        ctx.signal.addEventListener("abort", () => resolve(wallClockMs()), { once: true });
      });
      await ctx.publish({ type: "note", data: { text: "armed" } });
      const firedAt = await fired;
      await ctx.publish({ type: "note", data: { text: "signal fired", firedAt } });
      return;
    }
    case "tool-probe": {
      const durations: number[] = [];
      for (let i = 0; i < Number(arg); i++) {
        const t0 = wallClockMs();
        await ctx.callClientTool("echo", { i }, { timeoutMs: 5000 });
        durations.push(wallClockMs() - t0);
      }
      await ctx.publish({ type: "note", data: { text: "tool durations", durations } });
      return;
    }
    default:
      await ctx.publish({ type: "note", data: { text: `unknown command ${command}` } });
  }
}

async function stream(ctx: TurnContext, count: number): Promise<void> {
  const id = newId();
  await ctx.publish({
    type: "message.start",
    ref: id,
    data: { id, role: "assistant", author: { kind: "agent", id: ctx.agent } },
  });
  for (let i = 0; i < count; i++) {
    if (ctx.signal.aborted) {
      await ctx.publish({ type: "message.end", ref: id, data: { status: "cancelled" } });
      return;
    }
    for (const steer of ctx.takeSteers()) {
      await ctx.publish({ type: "message.append", ref: id, data: { part: 0, delta: `[steer: ${steer.text}] ` } });
    }
    await ctx.publish({ type: "message.append", ref: id, data: { part: 0, delta: `${i} ` } });
    await sleep(DELTA_INTERVAL_MS);
  }
  await ctx.publish({ type: "message.end", ref: id, data: { status: "complete" } });
}
