import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";

/** A client connection the NATS server reported closed. */
export interface DisconnectedClient {
  serverId: string;
  clientId: number;
  account?: string;
  reason?: string;
}

/**
 * Follows the server's client-disconnect advisories
 * (`$SYS.ACCOUNT.<account>.DISCONNECT`), which need a connection as a user of
 * the system account. Every server of a cluster publishes its own clients'
 * advisories there, so one subscription sees all of them.
 */
export function followDisconnects(
  sys: NatsConnection,
  onDisconnect: (client: DisconnectedClient) => void,
  log: Logger,
): Subscription {
  return sys.subscribe("$SYS.ACCOUNT.*.DISCONNECT", {
    callback: (error, msg) => {
      if (error) {
        log.warn({ err: error }, "disconnect advisory subscription error");
        return;
      }
      let advisory: { server?: { id?: unknown }; client?: { id?: unknown; acc?: unknown }; reason?: unknown };
      try {
        advisory = msg.json();
      } catch {
        log.warn({ subject: msg.subject }, "unreadable disconnect advisory");
        return;
      }
      const serverId = advisory.server?.id;
      const clientId = advisory.client?.id;
      if (typeof serverId !== "string" || typeof clientId !== "number") return;
      const client: DisconnectedClient = { serverId, clientId };
      if (typeof advisory.client?.acc === "string") client.account = advisory.client.acc;
      if (typeof advisory.reason === "string") client.reason = advisory.reason;
      onDisconnect(client);
    },
  });
}
