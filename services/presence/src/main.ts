#!/usr/bin/env -S node --import tsx
import { connectNats, loadConfigOrExit } from "@threadline/store";
import { pino } from "pino";
import { loadPresenceConfig } from "./config.ts";
import { createPresenceService } from "./presence-service.ts";

/** Process entry: config from env, NATS connections (application + optional system account), graceful shutdown. */
async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadPresenceConfig());
  const log = pino({ name: "presence", level: config.logLevel, base: { service: "presence" } });
  const nc = await connectNats(config.nats, `threadline-presence-${config.presenceId}`);
  const sys = config.sysNats
    ? await connectNats(config.sysNats, `threadline-presence-sys-${config.presenceId}`)
    : undefined;
  const service = await createPresenceService(config, { nc, ...(sys ? { sys } : {}), logger: log });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    await service.close();
    await Promise.allSettled([nc.drain(), sys?.drain()]);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // Machine-readable line for launchers and tests that start the service as a child process.
  console.log(
    JSON.stringify({ threadline: "presence-ready", httpPort: service.httpPort, advisories: service.advisories }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
