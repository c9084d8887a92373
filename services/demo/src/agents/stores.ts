import { nearbyStores } from "../catalog.ts";
import type { TurnContext } from "./pool.ts";

/**
 * The stores agent: asks the customer's browser for its location (a client
 * tool call answered by any of the user's devices) and feeds it to a
 * server-side tool (nearby stores).
 */
export async function stores(ctx: TurnContext): Promise<void> {
  await ctx.progress("locate", "running", { label: "Asking your browser for your location" });
  let position: { lat: number; lon: number };
  try {
    position = (await ctx.callClientTool("geolocation", {}, { timeoutMs: 30_000 })) as typeof position;
  } catch (error) {
    if (ctx.signal.aborted) return;
    await ctx.progress("locate", "failed", { detail: error instanceof Error ? error.message : String(error) });
    await ctx.reply("I could not get your location; tell me your city and I will look it up.");
    return;
  }
  await ctx.progress("locate", "done", { detail: `${position.lat.toFixed(3)}, ${position.lon.toFixed(3)}` });
  await ctx.progress("stores", "running", { label: "Finding nearby stores" });
  const found = nearbyStores(position);
  await ctx.progress("stores", "done", { detail: found.map((s) => s.name).join(", ") });
  await ctx.reply(
    `The closest store is ${found[0]!.name}, ${found[0]!.km} km away` +
      (found[1] ? `, then ${found[1].name} at ${found[1].km} km.` : ".") +
      " Both offer same-day pickup.",
  );
}
