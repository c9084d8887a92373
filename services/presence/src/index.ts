export type { NatsAuth, PresenceConfig } from "./config.ts";
export { ConfigError, loadPresenceConfig } from "./config.ts";
export type { PresenceMetrics } from "./metrics.ts";
export type { Logger, PresenceDeps, PresenceService } from "./presence-service.ts";
export { createPresenceService } from "./presence-service.ts";
