export type { TestKitErrorCode } from "./errors.ts";
export { TestKitError } from "./errors.ts";
export { freePort, freePorts } from "./free-port.ts";
export type { Jsz, JszReplica, JszStreamDetail, Readiness, Varz } from "./monitor.ts";
export { isHealthy } from "./monitor.ts";
export type { NatsCluster, NatsClusterOptions } from "./nats-cluster.ts";
export { startCluster } from "./nats-cluster.ts";
export type { NatsUsers } from "./nats-config.ts";
export type { NatsServer, NatsServerOptions } from "./nats-server.ts";
export { findNatsServer, startNatsServer } from "./nats-server.ts";
export type {
  CreatePushSubscriptionOptions,
  PushDelivery,
  PushRejection,
  PushService,
  PushServiceOptions,
  PushSubscriptionJson,
  PushUrgency,
} from "./push-service.ts";
export { createPushSubscription, startPushService, subscriptionIdOf } from "./push-service.ts";
export type { NodePlan } from "./server-process.ts";
export type { TcpProxy, TcpProxyMode, TcpProxyStats } from "./tcp-proxy.ts";
export { startTcpProxy } from "./tcp-proxy.ts";
export { TEST_TLS_CERT, testTlsAgent } from "./test-tls.ts";
export type { VapidClaims } from "./vapid.ts";
export type { WaitForOptions } from "./wait-for.ts";
export { waitFor } from "./wait-for.ts";
export type { WebhookAttempt, WebhookDelivery, WebhookReceiver, WebhookReceiverOptions } from "./webhook-receiver.ts";
export { startWebhookReceiver } from "./webhook-receiver.ts";
export type { WebhookSignatureFailure } from "./webhook-signature.ts";
export {
  signWebhook,
  verifyWebhookSignature,
  WEBHOOK_IDEMPOTENCY_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TOLERANCE_SECONDS,
} from "./webhook-signature.ts";
