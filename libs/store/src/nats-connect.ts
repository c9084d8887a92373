import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ConfigError, type NatsAuth } from "./env-settings.ts";

/**
 * A service's NATS connection: reconnects forever (250 ms apart), user/pass
 * or token from its settings. Services own it and drain it on shutdown.
 */
export function connectNats(settings: { servers: string[] } & NatsAuth, name: string): Promise<NatsConnection> {
  return connect({
    servers: settings.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(settings.user ? { user: settings.user, pass: settings.pass } : {}),
    ...(settings.token ? { token: settings.token } : {}),
  });
}

/** Loads a service's configuration; a `ConfigError` prints its problems and exits with status 2. */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
