#!/usr/bin/env -S node --import tsx
import { connect } from "@nats-io/transport-node";
import { ConfigError, loadConfig } from "./config.ts";
import { createGateway } from "./gateway.ts";
import { createLogger } from "./logger.ts";

/** Process entry: config from env, NATS connection, gateway, graceful shutdown on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const nc = await connect({
    servers: config.nats.servers,
    name: `threadline-gateway-${config.gatewayId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(config.nats.user ? { user: config.nats.user, pass: config.nats.pass } : {}),
    ...(config.nats.token ? { token: config.nats.token } : {}),
  });
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
