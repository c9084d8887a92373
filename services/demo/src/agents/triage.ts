import { findProduct, mentionedProduct, type Product } from "../catalog.ts";
import { asCart, asPage, CART_OBJECT, PAGE_OBJECT } from "../shop-state.ts";
import type { TurnContext } from "./pool.ts";

/** Specialist pools the triage agent routes to, and the words that select each. */
export const ROUTES = [
  { agent: "orders", title: "our order specialist", words: /\b(buy|purchase|order an?)\b/i },
  { agent: "returns", title: "our returns specialist", words: /\b(return|refund)\b/i },
  { agent: "research", title: "our product researcher", words: /\b(research|compare|recommend|which|best|review)/i },
  { agent: "stores", title: "our store finder", words: /\b(store|shop near|near me|pick ?up)\b/i },
] as const;

const HUMAN = /\b(human|person|operator|someone real)\b/i;
const STOCK = /\b(in stock|stock|available|availability)\b/i;

/**
 * The answer to a stock question (deterministic: the browser test compares
 * it). `viewed`: the product came from the shared `page` object, not from
 * the customer's words; `inCart`: how many the customer's cart holds.
 */
export function stockReply(product: Product, viewed: boolean, inCart = 0): string {
  const which = viewed ? `The ${product.name} you are looking at` : `The ${product.name}`;
  const cart = inCart > 0 ? ` You already have ${inCart} in your cart.` : "";
  return (
    `${which} (${product.sku}, $${product.price}) is in stock: we have ${product.stock} available, ` +
    `ready to ship today.${cart} Say "buy this one" and I will order it for you.`
  );
}

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
  if (routes.length === 0 && STOCK.test(text)) {
    // "Is this one in stock?": the product is what the customer's page shows (the shared `page` object),
    // unless the question names one.
    const page = asPage((await ctx.state(PAGE_OBJECT)).get());
    const cart = asCart((await ctx.state(CART_OBJECT)).get());
    const product = findProduct(text, page?.sku);
    const viewed = !mentionedProduct(text) && page?.sku === product.sku;
    const inCart = cart.items.filter((i) => i.sku === product.sku).reduce((n, i) => n + i.qty, 0);
    await ctx.reply(stockReply(product, viewed, inCart));
    return;
  }
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
