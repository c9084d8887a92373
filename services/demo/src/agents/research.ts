import { findProduct, PRODUCTS, type Product } from "../catalog.ts";
import { asPage, PAGE_OBJECT } from "../shop-state.ts";
import type { TurnContext } from "./pool.ts";
import { runSteps } from "./steps.ts";

/**
 * The research agent's answer for a product (deterministic: tests compare
 * streamed text with it), opening with what the customer asked to focus on
 * while the research ran (steer messages), if anything.
 */
export function researchReply(product: Product, steers: readonly string[] = []): string {
  const rivals = PRODUCTS.filter((p) => p.sku !== product.sku && p.sku.slice(0, 2) === product.sku.slice(0, 2));
  const specs = Object.entries(product.specs)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const comparison = rivals
    .map((r) => `Compared with the ${r.name} at $${r.price}, it costs $${product.price - r.price} more.`)
    .join(" ");
  const focus = steers.length > 0 ? `You asked me to focus on: ${steers.join("; ")}. Noted. ` : "";
  return (
    focus +
    `Here is what I found about the ${product.name} (${product.sku}). ` +
    `It sells for $${product.price} and we have ${product.stock} in stock. Key specifications: ${specs}. ` +
    `${comparison} ` +
    `Across ${product.reviews} reviews it averages ${product.rating} out of 5: customers praise the build quality, ` +
    "the comfortable fit and the long battery life, and a few mention that the carrying case feels basic. " +
    "If you value the best noise cancelling and battery life, it is the stronger choice; if price matters most, " +
    "the cheaper model covers the essentials well. Say the word and I can order it for you."
  );
}

/** Researches the product the customer names, or else the one they are looking at (the shared `page` object). */
export async function research(ctx: TurnContext): Promise<void> {
  const page = asPage((await ctx.state(PAGE_OBJECT)).get());
  const product = findProduct(ctx.text, page?.sku);
  const done = await runSteps(ctx, [
    {
      id: "search",
      label: "Searching the catalog",
      ms: 1200,
      run: () => `${PRODUCTS.length} products, best match ${product.sku}`,
    },
    { id: "compare", label: "Comparing specifications", ms: 1500, run: () => Object.keys(product.specs).join(", ") },
    {
      id: "reviews",
      label: "Analysing reviews",
      ms: 1500,
      run: () => `${product.reviews} reviews, ${product.rating}/5`,
    },
  ]);
  if (!done) return;
  // Steering: what the customer said while the research ran shapes the answer.
  const steers = ctx.takeSteers();
  await ctx.reply(researchReply(product, steers));
}
