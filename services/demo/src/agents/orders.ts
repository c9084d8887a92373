import { findProduct } from "./catalog.ts";
import type { TurnContext } from "./pool.ts";
import { runSteps } from "./steps.ts";

/** Charges above this many dollars wait for the customer's approval (an approval request to their devices). */
export const APPROVAL_THRESHOLD = 500;

/** The order agent: check stock → reserve → (approval above the threshold) → pay → confirmation → email. */
export async function orders(ctx: TurnContext): Promise<void> {
  const product = findProduct(ctx.text);
  const order = `A-${ctx.turn.slice(-6).toUpperCase()}`;
  const reserved = await runSteps(ctx, [
    { id: "stock", label: "Checking stock", ms: 700, run: () => `${product.stock} × ${product.sku} available` },
    { id: "reserve", label: "Reserving the item", ms: 700, run: () => `1 × ${product.sku} held for 15 min` },
  ]);
  if (!reserved) return;
  if (product.price > APPROVAL_THRESHOLD) {
    await ctx.progress("approval", "running", { label: "Waiting for your approval" });
    let approved = false;
    try {
      approved = await ctx.requestApproval(`Charge $${product.price} for the ${product.name}`, {
        sku: product.sku,
        price: product.price,
      });
    } catch (error) {
      if (ctx.signal.aborted) return;
      await ctx.progress("approval", "failed", { detail: error instanceof Error ? error.message : String(error) });
      await ctx.reply(
        "I did not get your approval in time, so nothing was charged. The item stays reserved for 15 minutes.",
      );
      return;
    }
    await ctx.progress("approval", approved ? "done" : "failed", { detail: approved ? "approved" : "declined" });
    if (!approved) {
      await ctx.reply(`No problem: nothing was charged and the reservation of the ${product.name} is released.`);
      return;
    }
  }
  const done = await runSteps(ctx, [
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
