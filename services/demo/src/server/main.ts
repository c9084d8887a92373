import { fileURLToPath } from "node:url";
import { startDemoServer } from "./demo-server.ts";

/**
 * The demo web server as a process (used by `npm start` and the browser
 * tests). Environment: THREADLINE_URL (gateway WebSocket URL),
 * THREADLINE_GATEWAY_HTTP (its HTTP base), THREADLINE_JWT_SECRET,
 * DEMO_PORT (default 5173; 0 = any), DEMO_DIST (default services/demo/dist).
 * Prints `{"threadline":"demo-ready","url":…}` when listening.
 */
const secret = process.env.THREADLINE_JWT_SECRET;
const gatewayUrl = process.env.THREADLINE_URL;
if (!secret || !gatewayUrl) {
  console.error("demo server: THREADLINE_JWT_SECRET and THREADLINE_URL are required");
  process.exit(2);
}
const server = await startDemoServer({
  root: process.env.DEMO_DIST ?? fileURLToPath(new URL("../../dist", import.meta.url)),
  gatewayUrl,
  gatewayHttpUrl: process.env.THREADLINE_GATEWAY_HTTP ?? new URL(gatewayUrl.replace(/^ws/, "http")).origin,
  secret,
  port: Number(process.env.DEMO_PORT ?? 5173),
});
console.log(JSON.stringify({ threadline: "demo-ready", url: server.url }));
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
