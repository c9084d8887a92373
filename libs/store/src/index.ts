/**
 * `@threadline/store` — Threadline's data on NATS JetStream, in one place:
 * the stream (provisioning, lookup), record decoding, the one history reader,
 * the control bucket (compare-and-set), the presence and cursor buckets, the
 * offline-delivery buckets (push subscriptions, notification preferences, the
 * notifier's ledger: claims, burst marks, rate counters, dead letters), and NATS failures as typed errors. The agent SDK, the gateway, the presence
 * service and the CLI build on it; it depends only on `@threadline/protocol`
 * and the modular NATS client.
 */
export type { ControlWatch, TurnRecord, Versioned } from "./control-state.ts";
export { ControlState } from "./control-state.ts";
export type { CursorStore, CursorWriteFailed } from "./cursor-store.ts";
export { createCursorStore, cursorKey } from "./cursor-store.ts";
export type { DeadLetter } from "./dead-letters.ts";
export { DeadLetters } from "./dead-letters.ts";
export type { MessageAt } from "./duplicate-ack.ts";
export { confirmDuplicateAck } from "./duplicate-ack.ts";
export { ensureDurable, watchConsumerLoss } from "./durable-consumer.ts";
export type { NatsAuth } from "./env-settings.ts";
export { ConfigError, EnvReader } from "./env-settings.ts";
export { HedgeBudget, type HedgeOptions, hedged } from "./hedge.ts";
export type { HistoryReader, HistoryReaderOptions, ReadOptions, StoredMessage } from "./history-reader.ts";
export { createHistoryReader, readResuming } from "./history-reader.ts";
export type { JsPublisherOptions, JsPublishOptions, PubAck, StreamPublisher } from "./js-publisher.ts";
export { JsPublisher } from "./js-publisher.ts";
export { currentEntries, storedKeys } from "./kv-json.ts";
export type { MemoryStreamOptions } from "./memory-stream.ts";
export { MemoryCursorStore, MemoryStream, subjectMatches } from "./memory-stream.ts";
export { connectNats, loadConfigOrExit } from "./nats-connect.ts";
export {
  closedError,
  isClosedError,
  isTransientNatsError,
  JsErrCode,
  jsApiErrorCode,
  natsError,
} from "./nats-errors.ts";
export type {
  ClaimDecision,
  ClaimEntry,
  ClaimOutcome,
  ClaimPolicy,
  ClaimStatus,
  ClaimTicket,
  NotificationClaimsOptions,
} from "./notification-claims.ts";
export { checkTriggerKey, claimDecision, DEFAULT_CLAIM_POLICY, NotificationClaims } from "./notification-claims.ts";
export type { BurstMark, PendingNotification } from "./notification-marks.ts";
export {
  advanceBurstMark,
  emptyBurstMark,
  MAX_PENDING_NOTIFICATIONS,
  NotificationMarks,
} from "./notification-marks.ts";
export type { NotificationEvent, NotificationPrefs } from "./notification-prefs.ts";
export {
  defaultNotificationPrefs,
  MAX_MUTED_SESSIONS,
  NOTIFICATION_EVENTS,
  NotificationPreferences,
  normalizeNotificationPrefs,
  notificationPrefsProblem,
  wantsNotification,
} from "./notification-prefs.ts";
export type { RateDecision, RateWindow } from "./notification-rate.ts";
export { NotificationRate } from "./notification-rate.ts";
export type { NotificationTarget, NotifyChannel } from "./notify-keys.ts";
export {
  burstMarkKey,
  deadLetterKey,
  MAX_PLAIN_KEY_TOKEN,
  NOTIFY_CHANNELS,
  notificationClaimKey,
  notificationId,
  notifyKeyToken,
  rateKey,
} from "./notify-keys.ts";
export { PLACEMENT_WAIT_MS, placementPending, whilePlacing } from "./placement.ts";
export { PresenceBucket } from "./presence-bucket.ts";
export type { PresenceChange, PresenceFeed, PresenceFeedHandler } from "./presence-feed.ts";
export { followPresence } from "./presence-feed.ts";
export { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";
export { DEFAULT_PUSH_ALLOWED_HOSTS, pushHostAllowed, pushHostPatternProblem } from "./push-host.ts";
export type {
  PushSubscriptionInput,
  PushSubscriptionMeta,
  PushSubscriptionRecord,
  PushSubscriptionsOptions,
  RegisterResult,
  StoredPushSubscription,
} from "./push-subscriptions.ts";
export {
  checkPushUser,
  MAX_ENDPOINT_LENGTH,
  MAX_USER_AGENT_LENGTH,
  PushSubscriptions,
  pushSubscriptionId,
  pushSubscriptionProblem,
} from "./push-subscriptions.ts";
export type { SubjectRecord } from "./record-decoder.ts";
export { decodeRecord } from "./record-decoder.ts";
export { RetryPolicy, redeliveryDelay, retryDelay, sleep, withDeadline } from "./retry.ts";
export type { SessionStateStore, SessionStateStoreDeps, StateFollower } from "./session-state-store.ts";
export { createSessionStateStore } from "./session-state-store.ts";
export type { FoldStoredStateOptions } from "./state-reader.ts";
export { foldStoredState } from "./state-reader.ts";
export type { ProvisionOptions, StreamNames, ThreadlineStreamInfo } from "./stream-provisioner.ts";
export { lookupThreadline, PROVISION_DEFAULTS, provisionThreadline } from "./stream-provisioner.ts";
