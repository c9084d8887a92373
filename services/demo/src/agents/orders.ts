import { findProduct } from "./catalog.ts";
import type { TurnContext } from "./pool.ts";
import { runSteps } from "./steps.ts";

/** The order agent: check stock → reserve → pay → confirmation → email. */
export async function orders(ctx: TurnContext): Promise<void> {
  const product = findProduct(ctx.text);
  const order = `A-${ctx.turn.slice(-6).toUpperCase()}`;
  const done = await runSteps(ctx, [
    { id: "stock", label: "Checking stock", ms: 700, run: () => `${product.stock} × ${product.sku} available` },
    { id: "reserve", label: "Reserving the item", ms: 700, run: () => `1 × ${product.sku} held for 15 min` },
    { id: "payment", label: "Processing payment", ms: 900, run: () => `$${product.price} charged to the card on file` },
    { id: "confirmation", label: "Generating confirmation", ms: 600, run: () => `order ${order}` },
    { id: "email", label: "Sending email", ms: 500, run: () => "confirmation sent" },
  ]);
  if (!done) return;
  await ctx.reply(
    `Your order ${order} for the ${product.name} is confirmed: $${product.price} was charged and a confirmation ` +
      "email is on its way. It ships today.",
  );
}
