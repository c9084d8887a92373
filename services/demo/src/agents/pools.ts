import { orders } from "./orders.ts";
import type { TurnContext } from "./pool.ts";
import { research } from "./research.ts";
import { returns } from "./returns.ts";
import { stores } from "./stores.ts";
import { triage } from "./triage.ts";

/** The demo's agent pools: the entry (triage) pool and the specialists it delegates to. */
export const POOLS: Record<
  string,
  { displayName: string; entry?: boolean; handler: (ctx: TurnContext) => Promise<void> }
> = {
  triage: { displayName: "Triage agent", entry: true, handler: triage },
  orders: { displayName: "Order agent", handler: orders },
  returns: { displayName: "Returns agent", handler: returns },
  research: { displayName: "Product research agent", handler: research },
  stores: { displayName: "Store finder", handler: stores },
};

/** Pool names; each runs as its own process and, under `npm start`, as its own NATS user. */
export const POOL_NAMES = Object.keys(POOLS);
