export type { AuthConfig, Authenticator, Capability, Grant, Principal, Role } from "./auth.ts";
export { can, createAuthenticator } from "./auth.ts";
export type { GatewayConfig } from "./config.ts";
export { ConfigError, loadConfig } from "./config.ts";
export type { Gateway, GatewayDeps } from "./gateway.ts";
export { createGateway, uwsImplementation } from "./gateway.ts";
export type { GatewayMetrics } from "./metrics.ts";
