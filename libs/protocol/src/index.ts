export { pinnedFrom, subjectAuthor } from "./author.ts";
export type { BackoffOptions, BackoffPolicy } from "./backoff.ts";
export { backoffDelay, canRetry, DEFAULT_BACKOFF, resolveBackoff } from "./backoff.ts";
export { CloseCode, isRetryableClose } from "./close-codes.ts";
export type { Encoding } from "./codec.ts";
export {
  decodeJson,
  decodeMsgpack,
  encodedSize,
  encodeFrame,
  encodeJson,
  encodeMsgpack,
  msgpackExtensionType,
  utf8,
} from "./codec.ts";
export type { PublishedEvent } from "./dedupe.ts";
export { dedupeKey, duplicateAckProblem, parseDedupeKey } from "./dedupe.ts";
export type { Participant, SessionEvent, SessionRecord } from "./envelope.ts";
export { CLIENT_EVENT_LANES, clientEventLane } from "./envelope.ts";
export type { WireError } from "./errors.ts";
export { ErrorCode, isErrorCode, isRetryableCode, ThreadlineError } from "./errors.ts";
export type {
  AckFrame,
  AttachedFrame,
  AttachFrame,
  AttachFrom,
  AttachHistory,
  ClientEvent,
  ClientFrame,
  ClientOp,
  DetachedFrame,
  DetachFrame,
  ErrorFrame,
  EventFrame,
  EventsFrame,
  HelloFrame,
  OptionalFrame,
  PingFrame,
  PongFrame,
  PresenceFrame,
  PresenceSetFrame,
  PublishedFrame,
  PublishFrame,
  ServerFrame,
  StateFrame,
  SyncedFrame,
  WelcomeFrame,
} from "./frames.ts";
export { CLIENT_OPS, OPTIONAL_FRAMES, PROTOCOL_VERSION, SUBPROTOCOL } from "./frames.ts";
export {
  checkSessionId,
  isDeviceId,
  isEventId,
  isEventType,
  isParticipantId,
  isSessionId,
  MAX_DEVICE_ID_LENGTH,
  MAX_EVENT_ID_LENGTH,
  MAX_EVENT_TYPE_LENGTH,
  MAX_PARTICIPANT_ID_LENGTH,
  MAX_SESSION_ID_LENGTH,
  newId,
} from "./ids.ts";
export type { Limits } from "./limits.ts";
export {
  DEFAULT_LIMITS,
  MAX_ACCEPT_NAME_CHARS,
  MAX_ACCEPT_NAMES,
  MAX_EVENTS_FRAME_BYTES,
  MAX_EVENTS_PER_FRAME,
  MAX_TOKEN_BYTES,
} from "./limits.ts";
export type {
  DataPart,
  FilePart,
  Message,
  MessageAppendData,
  MessageAuthor,
  MessageEndData,
  MessageEndStatus,
  MessagePart,
  MessagePartData,
  MessageRole,
  MessageSnapshotData,
  MessageStartData,
  MessageStatus,
  MessageUpdateData,
  ReasoningPart,
  SourceDocumentPart,
  SourceUrlPart,
  StepStartPart,
  TextLikeType,
  TextPart,
  ToolPart,
} from "./message-types.ts";
export {
  isMessageEndStatus,
  isMessageId,
  MAX_MESSAGE_DELTA_BYTES,
  MAX_MESSAGE_PARTS,
  MAX_MESSAGE_TEXT_BYTES,
  MAX_MESSAGES,
  MessageEventType,
} from "./message-types.ts";
export type { MessageOutcome, MessageRecord, MessageState } from "./messages.ts";
export {
  applyMessageEvent,
  emptyMessageState,
  findMessage,
  isMessageEventType,
  MessageRejection,
  messagePartProblem,
  messageSnapshotData,
  stepMessageEvent,
  utf8Length,
} from "./messages.ts";
export {
  MAX_NOTIFICATION_BODY_LENGTH,
  MAX_NOTIFICATION_PAYLOAD_BYTES,
  MAX_NOTIFICATION_TITLE_LENGTH,
  NOTIFICATION_KINDS,
  NOTIFICATION_TYPE,
  type NotificationKind,
  type NotificationPayload,
  type ThreadlineNotification,
} from "./notification.ts";
export type { Position } from "./position.ts";
export { comparePositions, epochFromStreamCreated, isPosition, isSeq, maxPosition, toPosition } from "./position.ts";
export type {
  PresenceDevice,
  PresenceEntry,
  PresenceEventData,
  PresenceKey,
  PresenceKind,
  PresenceMember,
  PresenceNatsClient,
} from "./presence.ts";
export {
  applyPresenceEvent,
  DEFAULT_PRESENCE_BUCKET,
  DEFAULT_PRESENCE_HEARTBEAT_MS,
  isLeaveReason,
  LeaveReason,
  MAX_PRESENCE_HEARTBEAT_MS,
  MAX_PRESENCE_METADATA_BYTES,
  MAX_PRESENCE_NAME_LENGTH,
  MIN_PRESENCE_HEARTBEAT_MS,
  PRESENCE_EXPIRY_INTERVALS,
  PRESENCE_PARTICIPANT_ID,
  PresenceEventType,
  parsePresenceKey,
  presenceEntryProblem,
  presenceEventId,
  presenceKey,
  presenceMetadataProblem,
  presenceStatusProblem,
} from "./presence.ts";
export type { PresenceTransition } from "./presence-tracker.ts";
export { PresenceTracker } from "./presence-tracker.ts";
export type { Sequenced, StreamState } from "./recovery.ts";
export { checkPositionEvent, checkResume, isNewSeq, mergeHistoryAndLive } from "./recovery.ts";
export type {
  JsonValue,
  PathSegment,
  SessionState,
  StateObject,
  StateOp,
  StateOpKind,
  StateOutcome,
  StateRecord,
} from "./state.ts";
export {
  AGENT_OBJECT_PREFIX,
  checkStateOp,
  emptySessionState,
  foldState,
  isObjectName,
  jsonBytes,
  mayWriteObject,
  mergePatch,
  previewStateOp,
  STATE_EVENT_TYPE,
  StateLimits,
  StateRejection,
  stateOpProblem,
  stateRejectionError,
  stepState,
} from "./state.ts";
export type { ParsedOffset } from "./stream-offset.ts";
export { epochDigits, formatOffset, OFFSET_DIGITS, offsetSeq, parseOffset, ZERO_OFFSET } from "./stream-offset.ts";
export type { ParsedSubject } from "./subjects.ts";
export {
  DEFAULT_LIVE_PREFIX,
  DEFAULT_STREAM_NAME,
  DEFAULT_SUBJECT_PREFIX,
  isParticipantKind,
  Lane,
  ParticipantKind,
  Subjects,
  sessionOfSubject,
} from "./subjects.ts";
export { isTraceparent, MAX_TRACEPARENT_LENGTH, traceIdOf } from "./trace.ts";
export type { TurnLiveness } from "./turn-liveness.ts";
export { TURN_LEASE_GRACE_MS, turnLiveness } from "./turn-liveness.ts";
export type {
  ApprovalData,
  ApprovalRequestData,
  Approver,
  CallClosedData,
  CallClosedReason,
  CancelData,
  ControlCallEntry,
  ControlCallStatus,
  ControlEventFields,
  ControlKey,
  ControlOwnerEntry,
  ControlTurnEntry,
  HandoffData,
  ProgressData,
  ProgressStatus,
  SteerData,
  ToolCallData,
  ToolResultData,
  TurnEndData,
  TurnEndStatus,
  TurnRequestData,
  TurnResumedData,
  TurnResumedReason,
  TurnStartData,
} from "./turns.ts";
export {
  ControlEventType,
  controlCallEntryProblem,
  controlCallKey,
  controlEventProblem,
  controlOwnerEntryProblem,
  controlOwnerKey,
  controlTurnEntryProblem,
  controlTurnKey,
  DEFAULT_CONTROL_BUCKET,
  HandoffAction,
  INPUT_EVENT_TYPE,
  isCallId,
  isFinalTurnStatus,
  isTurnId,
  isTurnStatus,
  MAX_CONTROL_REASON_LENGTH,
  MAX_TURN_DEPTH,
  MAX_TURN_ID_LENGTH,
  mayAnswerCall,
  parseControlKey,
  TurnEventType,
  TurnStatus,
  turnEventProblem,
} from "./turns.ts";
