import { DIRECTORY_SESSION } from "../directory.ts";
import { orders } from "./orders.ts";
import { servePool, type TurnContext } from "./pool.ts";
import { research } from "./research.ts";
import { returns } from "./returns.ts";
import { stores } from "./stores.ts";
import { triage } from "./triage.ts";

/**
 * One demo agent pool as its own process: `node --import tsx main.ts <pool>`.
 * Environment: NATS_URL, and NATS_USER / NATS_PASS when the server requires
 * them (npm start gives every pool its own least-privilege user).
 * Prints `{"threadline":"agent-ready","pool":…}` once it consumes input.
 */
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

const name = process.argv[2] ?? "";
const pool = POOLS[name];
if (!pool) {
  console.error(`usage: main.ts <${Object.keys(POOLS).join("|")}>`);
  process.exit(2);
}
const served = await servePool({
  name,
  ...pool,
  directory: DIRECTORY_SESSION,
  servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  ...(process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASS } : {}),
});
console.log(JSON.stringify({ threadline: "agent-ready", pool: name }));
const stop = async () => {
  await served.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
