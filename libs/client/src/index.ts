// Errors and close codes, so apps can branch on `error.code` without a second dependency (README "Errors").
export type {
  AttachFrom,
  AttachHistory,
  BackoffOptions,
  ClientEvent,
  HandoffAction,
  JsonValue,
  PathSegment,
  Position,
  PresenceMember,
  SessionEvent,
  SessionRecord,
  StateObject,
  StateOp,
} from "@threadline/protocol";
export { CloseCode, ErrorCode, isRetryableClose, StateLimits, ThreadlineError } from "@threadline/protocol";
export type { AttachOptions, ThreadlineClient } from "./client.ts";
export { createClient } from "./client.ts";
export type { ClientOptions, FetchLike } from "./client-options.ts";
export type { ConnectionStatus } from "./connection-status.ts";
export type { CallView, ControlViewChange, SessionControlView, SessionOwner, TurnView } from "./control-view.ts";
export type { MessageViewChange, SessionMessagesView } from "./message-view.ts";
export type {
  NotificationKind,
  NotificationPreferences,
  PreferencesUpdater,
  PushSubscriptionInfo,
  PushSubscriptionJSONLike,
  PushSubscriptionLike,
  ThreadlineNotifications,
  VersionedNotificationPreferences,
} from "./notifications.ts";
export type { PositionStorage, StorageLike } from "./position-storage.ts";
export { memoryStorage, webStorage } from "./position-storage.ts";
export type { PresenceViewChange, SessionPresenceView } from "./presence-view.ts";
export type { PublishResult } from "./publish-queue.ts";
export type { SessionControls } from "./session-controls.ts";
export type { SessionHandle } from "./session-handle.ts";
export type { StateHandle, StatePath, StateWriteOptions } from "./state-handle.ts";
export type { StateChange } from "./state-view.ts";
export type { Transport, TransportMode } from "./transport-choice.ts";
export type { WebSocketConstructorLike, WebSocketLike } from "./websocket-like.ts";
