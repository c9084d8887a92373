import type { TurnContext } from "./pool.ts";

/** Specialist pools the triage agent routes to, and the words that select each. */
export const ROUTES = [
  { agent: "orders", title: "our order specialist", words: /\b(buy|purchase|order an?)\b/i },
  { agent: "returns", title: "our returns specialist", words: /\b(return|refund)\b/i },
  { agent: "research", title: "our product researcher", words: /\b(research|compare|recommend|which|best|review)/i },
  { agent: "stores", title: "our store finder", words: /\b(store|shop near|near me|pick ?up)\b/i },
] as const;

const HUMAN = /\b(human|person|operator|someone real)\b/i;

/**
 * The entry agent: answers greetings and routes work to specialists by
 * delegating sub-agent turns, which publish their own progress and replies
 * into the session — several at once when the customer asks for several things.
 */
export async function triage(ctx: TurnContext): Promise<void> {
  const text = ctx.text;
  if (HUMAN.test(text)) {
    await ctx.requestHuman("the customer asked for a human");
    await ctx.reply("Of course. I have asked a colleague from our support team to join this chat.");
    return;
  }
  const routes = ROUTES.filter((r) => r.words.test(text));
  if (routes.length === 0) {
    await ctx.reply(
      "Hi! I can order a product for you, start a return, research and compare products, or find a store near " +
        "you. What would you like to do?",
    );
    return;
  }
  await ctx.reply(`On it: I am handing this to ${routes.map((r) => r.title).join(" and ")}.`);
  for (const route of routes) await ctx.delegate(route.agent, { text });
}
