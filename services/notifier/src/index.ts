/**
 * `@threadline/notifier` — offline delivery: when no device of a user is
 * attached to a session, a turn that ended, an approval or client tool call
 * waiting, or an operator's message reaches them by Web Push and/or a signed
 * webhook, once per trigger (README).
 */
export type { NatsAuth, NotifierConfig, VapidConfig, WebhookConfig } from "./config.ts";
export { ConfigError, loadNotifierConfig } from "./config.ts";
export type { NotifierMetrics, SkipReason } from "./metrics.ts";
export type { Notifier, NotifierDeps } from "./notifier.ts";
export { createNotifier } from "./notifier.ts";
export type { NotificationPayload } from "./payload.ts";
export { MAX_PAYLOAD_BYTES } from "./payload.ts";
export type { Outcome } from "./trigger-handler.ts";
export { webhookSignature } from "./webhook.ts";
