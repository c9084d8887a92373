import { DIRECTORY_SESSION } from "../directory.ts";
import { servePool } from "./pool.ts";
import { POOL_NAMES, POOLS } from "./pools.ts";

/**
 * One demo agent pool as its own process: `node --import tsx main.ts <pool>`.
 * Environment: NATS_URL, and NATS_USER / NATS_PASS when the server requires
 * them (npm start gives every pool its own least-privilege user).
 * Prints `{"threadline":"agent-ready","pool":…}` once it consumes input.
 */
const name = process.argv[2] ?? "";
const pool = POOLS[name];
if (!pool) {
  console.error(`usage: main.ts <${POOL_NAMES.join("|")}>`);
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
