export type { JsonValue, PathSegment, StateObject, StateOp } from "@threadline/protocol";
export type { ProvisionOptions, StreamNames, SubjectRecord, ThreadlineStreamInfo, TurnRecord } from "@threadline/store";
export { connectAgent, createAgent } from "./agent.ts";
export type {
  Agent,
  AgentEvent,
  AgentOptions,
  AgentSetup,
  PublishAck,
  PublishOptions,
  PublishStats,
} from "./agent-api.ts";
export type { AgentServer, ServeAgentOptions, TurnHandler } from "./agent-server.ts";
export { serveAgent } from "./agent-server.ts";
export type { AgentSession, OpenSessionOptions } from "./agent-session.ts";
export { openSession } from "./agent-session.ts";
export type { ApprovalAnswer, ApprovalOptions, CallOptions, ToolAnswer } from "./client-call.ts";
export { ErrorCode, ThreadlineError } from "./errors.ts";
export type { HistoryOptions } from "./history-reader.ts";
export type { ConsumeInputOptions, InputConsumer, InputHandler } from "./input-consumer.ts";
export type {
  AppendOptions,
  MessagePublisher,
  MessageWriter,
  MessageWriterOptions,
  MessageWriterStats,
} from "./message-writer.ts";
export { MESSAGE_WRITER_DEFAULTS, startMessage } from "./message-writer.ts";
export type { AgentPresence, AgentPresenceOptions, PresenceEnterOptions } from "./presence.ts";
export type { Steer } from "./running-turn.ts";
export type { StateHandle, StatePath, StateWaitOptions, StateWriteOptions } from "./state-handle.ts";
export { STATE_VIEW_LIMITS } from "./state-views.ts";
export type { DelegatedTurn, ResumedInfo, TurnContext, TurnHistoryOptions } from "./turn-context.ts";
