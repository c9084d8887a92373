import { findProduct } from "../catalog.ts";
import { asPage, PAGE_OBJECT } from "../shop-state.ts";
import { Checklist } from "./checklist.ts";
import type { TurnContext } from "./pool.ts";
import { runSteps } from "./steps.ts";

/** Charges above this many dollars wait for the customer's approval (an approval request to their devices). */
export const APPROVAL_THRESHOLD = 500;

/**
 * The order agent: check stock → reserve → (approval above the threshold) →
 * pay → confirmation → email, for the product the customer names or else the
 * one they are looking at (the shared `page` object). Its plan is the shared
 * `agent-checklist` object, updated step by step on every device and in the
 * operator console.
 */
export async function orders(ctx: TurnContext): Promise<void> {
  const page = asPage((await ctx.state(PAGE_OBJECT)).get());
  const product = findProduct(ctx.text, page?.sku);
  const order = `A-${ctx.turn.slice(-6).toUpperCase()}`;
  const needsApproval = product.price > APPROVAL_THRESHOLD;
  const checklist = await Checklist.start(ctx, `Buying the ${product.name}`, [
    { id: "stock", label: "Check stock" },
    { id: "reserve", label: "Reserve" },
    ...(needsApproval ? [{ id: "approval", label: "Your approval" }] : []),
    { id: "payment", label: "Charge" },
    { id: "confirmation", label: "Confirm" },
    { id: "email", label: "Email the receipt" },
  ]);
  const cancelled = () => checklist.finish("cancelled");
  const reserved = await runSteps(
    ctx,
    [
      { id: "stock", label: "Checking stock", ms: 700, run: () => `${product.stock} × ${product.sku} available` },
      { id: "reserve", label: "Reserving the item", ms: 700, run: () => `1 × ${product.sku} held for 15 min` },
    ],
    checklist,
  );
  if (!reserved) return cancelled();
  if (needsApproval) {
    await ctx.progress("approval", "running", { label: "Waiting for your approval" });
    await checklist.mark("approval", "running");
    let approved = false;
    try {
      approved = await ctx.requestApproval(`Charge $${product.price} for the ${product.name}`, {
        sku: product.sku,
        price: product.price,
      });
    } catch (error) {
      if (ctx.signal.aborted) return cancelled();
      await ctx.progress("approval", "failed", { detail: error instanceof Error ? error.message : String(error) });
      await checklist.mark("approval", "failed");
      await checklist.finish("failed");
      await ctx.reply(
        "I did not get your approval in time, so nothing was charged. The item stays reserved for 15 minutes.",
      );
      return;
    }
    await ctx.progress("approval", approved ? "done" : "failed", { detail: approved ? "approved" : "declined" });
    await checklist.mark("approval", approved ? "done" : "failed");
    if (!approved) {
      await checklist.finish("failed");
      await ctx.reply(`No problem: nothing was charged and the reservation of the ${product.name} is released.`);
      return;
    }
  }
  const done = await runSteps(
    ctx,
    [
      {
        id: "payment",
        label: "Processing payment",
        ms: 900,
        run: () => `$${product.price} charged to the card on file`,
      },
      { id: "confirmation", label: "Generating confirmation", ms: 600, run: () => `order ${order}` },
      { id: "email", label: "Sending email", ms: 500, run: () => "confirmation sent" },
    ],
    checklist,
  );
  if (!done) return cancelled();
  await checklist.finish("done");
  await ctx.reply(
    `Your order ${order} for the ${product.name} is confirmed: $${product.price} was charged and a confirmation ` +
      "email is on its way. It ships today.",
  );
}
