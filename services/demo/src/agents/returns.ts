import { findOrder, PRODUCTS, RETURN_WINDOW_DAYS } from "../catalog.ts";
import type { TurnContext } from "./pool.ts";
import { runSteps } from "./steps.ts";

/** The returns agent: look up order → eligibility → policy → create return → label → confirmation. */
export async function returns(ctx: TurnContext): Promise<void> {
  const order = findOrder(ctx.text);
  const product = PRODUCTS.find((p) => p.sku === order.sku)!;
  const eligible = order.deliveredDaysAgo <= RETURN_WINDOW_DAYS;
  const rma = `R-${ctx.turn.slice(-6).toUpperCase()}`;
  const done = await runSteps(ctx, [
    { id: "lookup", label: "Looking up the order", ms: 600, run: () => `order ${order.id}: ${product.name}` },
    {
      id: "eligibility",
      label: "Checking eligibility",
      ms: 700,
      run: () => `delivered ${order.deliveredDaysAgo} days ago (${eligible ? "eligible" : "outside the window"})`,
    },
    { id: "policy", label: "Verifying the return policy", ms: 600, run: () => `${RETURN_WINDOW_DAYS}-day returns` },
    { id: "create", label: "Creating the return", ms: 700, run: () => (eligible ? rma : "not created") },
    { id: "label", label: "Generating a prepaid label", ms: 600, run: () => (eligible ? "label ready" : "no label") },
    { id: "confirm", label: "Sending confirmation", ms: 500, run: () => "confirmation sent" },
  ]);
  if (!done) return;
  const text = eligible
    ? `Your return ${rma} for order ${order.id} (${product.name}) is set up. The prepaid label is in your email; ` +
      "the refund follows once the parcel reaches us."
    : `Order ${order.id} was delivered ${order.deliveredDaysAgo} days ago, outside our ${RETURN_WINDOW_DAYS}-day ` +
      "window, so I cannot start a return, but a colleague can look at a warranty claim.";
  await ctx.reply(text);
}
