import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";

/** Whether the gateway's NATS connection is up, as `/readyz` reports it. */
export interface NatsStatus {
  readonly up: boolean;
}

/**
 * Follows the NATS connection's status: logs disconnects and reconnects,
 * counts reconnects, and calls `onReconnect` after each one. (The live
 * source, an ordered consumer, recovers from reconnects by itself; the
 * gateway resumes it at once and makes sure the stream was not recreated
 * meanwhile, which would void every position handed out.)
 */
export function watchNatsStatus(
  nc: NatsConnection,
  log: Logger,
  metrics: GatewayMetrics,
  onReconnect: () => void,
): NatsStatus {
  let up = !nc.isClosed();
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        up = false;
        log.warn({ server: status.server }, "NATS disconnected");
      } else if (status.type === "reconnect") {
        up = true;
        metrics.natsReconnects.inc();
        log.info({ server: status.server }, "NATS reconnected");
        onReconnect();
      }
    }
  })();
  return {
    get up() {
      return up && !nc.isClosed();
    },
  };
}
