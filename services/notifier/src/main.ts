#!/usr/bin/env -S node --import tsx
import { connectNats, loadConfigOrExit } from "@threadline/store";
import { pino } from "pino";
import { loadNotifierConfig } from "./config.ts";
import { createNotifier } from "./notifier.ts";

/** Process entry: config from env, the NATS connection, graceful shutdown (SIGTERM/SIGINT → exit 0). */
async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadNotifierConfig());
  const log = pino({ name: "notifier", level: config.logLevel, base: { service: "notifier" } });
  const nc = await connectNats(config.nats, `threadline-notifier-${config.notifierId}`);
  const notifier = await createNotifier(config, { nc, logger: log });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    await notifier.close();
    await nc.drain().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // Machine-readable line for launchers and tests that start the service as a child process.
  console.log(JSON.stringify({ threadline: "notifier-ready", httpPort: notifier.httpPort ?? null }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
