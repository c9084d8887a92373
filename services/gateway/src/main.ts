#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=30 --import tsx
import { connectNats, loadConfigOrExit } from "@threadline/store";
import { loadConfig } from "./config.ts";
import { createGateway } from "./gateway.ts";
import { createLogger } from "./logger.ts";

/** Process entry: config from env, NATS connection, gateway, graceful shutdown on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadConfig());
  const log = createLogger(config.logLevel);
  const nc = await connectNats(config.nats, `threadline-gateway-${config.gatewayId}`);
  const gateway = await createGateway(config, { nc, logger: log });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining");
    const timer = setTimeout(() => {
      log.warn("drain timed out; exiting");
      process.exit(1);
    }, config.drainTimeoutMs);
    await gateway.close();
    await nc.drain().catch(() => {});
    clearTimeout(timer);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // Machine-readable line for launchers and tests that start the gateway as a child process.
  console.log(JSON.stringify({ threadline: "gateway-ready", port: gateway.port, url: gateway.url }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
