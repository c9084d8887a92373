import type { TurnContext } from "@threadline/agent";
import { streamTokens } from "./simulated-model.ts";

/**
 * Which model writes the agents' replies. By default the deterministic
 * simulated model streams the agent's scripted reply (the demo runs offline,
 * the browser tests compare exact text). With `AI_GATEWAY_API_KEY` set, a
 * real model phrases the same facts through the AI SDK (`ai`'s default
 * provider, model `DEMO_MODEL`, default `openai/gpt-4o-mini`), piped into the
 * session by `@threadline/agent/ai-sdk`'s `streamTextToSession`, with the
 * turn's cancel signal as the model call's abort signal.
 */
export const REAL_MODEL = process.env.AI_GATEWAY_API_KEY ? (process.env.DEMO_MODEL ?? "openai/gpt-4o-mini") : undefined;

const SYSTEM =
  "You are a support agent of Voltstore, an electronics shop. Answer the customer in two or three friendly " +
  "sentences using only the facts given; do not invent prices, numbers or policies.";

/** Streams the reply of a turn as one message by `author`: `facts` as they are, or phrased by the real model. */
export async function streamReply(
  ctx: TurnContext,
  author: { kind: "agent"; id: string; name: string },
  facts: string,
  say: (tokens: AsyncIterable<string>) => Promise<void>,
): Promise<void> {
  if (!REAL_MODEL) return say(streamTokens(facts, { signal: ctx.signal }));
  const [{ streamText }, { streamTextToSession }] = await Promise.all([
    import("ai"),
    import("@threadline/agent/ai-sdk"),
  ]);
  await streamTextToSession(
    ctx,
    (abortSignal) =>
      streamText({
        model: REAL_MODEL,
        system: SYSTEM,
        prompt: `Customer: ${ctx.text ?? ""}\nFacts: ${facts}`,
        abortSignal,
      }),
    { author },
  );
}
