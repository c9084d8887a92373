import {
  type ApprovalData,
  type CancelData,
  type ClientEvent,
  ControlEventType,
  type HandoffAction,
  type HandoffData,
  type SteerData,
} from "@threadline/protocol";
import type { SessionControlView } from "./control-view.ts";
import type { PublishResult } from "./publish-queue.ts";

/**
 * Live control of a session's turns (PROTOCOL.md §17), part of every
 * `SessionHandle`. Each method publishes one control event (same queueing,
 * retries and id rules as `publish`) and resolves with its stored position,
 * or rejects with the gateway's typed error: `TURN_NOT_FOUND` / `TURN_ENDED`
 * (cancel, steer), `CALL_NOT_FOUND` / `CALL_ALREADY_ANSWERED` / `CALL_CLOSED`
 * (answers), `FORBIDDEN` (an approval the sender's kind may not give, a
 * user's handoff other than `request`), `INVALID_FRAME` (malformed, checked
 * before sending). Closing a tab or losing the socket never sends any of
 * them: only these explicit calls do.
 */
export interface SessionControls {
  /**
   * Stops turn `turn` (and its sub-agent turns). The turn id of an input is
   * the id `publish` resolved with, so Stop works before the agent started.
   * @example const { id } = await session.publish({ type: "input", data: { text } }); await session.cancel(id);
   */
  cancel(turn: string, reason?: string): Promise<PublishResult>;
  /** Redirects running turn `turn` with a message, e.g. "make it shorter". */
  steer(turn: string, text: string): Promise<PublishResult>;
  /**
   * Answers client tool call `call` (from a `tool.call` event) with a result,
   * or `{ error }` when the tool failed. The first answer from any device wins.
   */
  answerTool(call: string, answer: { result: unknown } | { error: string }): Promise<PublishResult>;
  /** Answers approval request `call` (from an `approval.request` event). */
  approve(call: string, approved: boolean, reason?: string): Promise<PublishResult>;
  /** Users: `request` a human; operators: `take` the session over or `release` it back to the agents. */
  handoff(action: HandoffAction, reason?: string): Promise<PublishResult>;
  /**
   * Turns, open calls and the session owner folded from the session's
   * events (attach from `"start"` for the whole picture).
   * @example session.control.onChange(({ calls }) => renderPrompts(calls));
   */
  readonly control: SessionControlView;
}

/** The control events behind {@link SessionControls}, as plain client events. */
export const controlEvents = {
  cancel(turn: string, reason?: string): ClientEvent {
    const data: CancelData = reason === undefined ? {} : { reason };
    return { type: ControlEventType.CANCEL, turn, data };
  },
  steer(turn: string, text: string): ClientEvent {
    const data: SteerData = { text };
    return { type: ControlEventType.STEER, turn, data };
  },
  answerTool(call: string, answer: { result: unknown } | { error: string }): ClientEvent {
    const data = "error" in answer ? { error: answer.error } : { result: answer.result };
    return { type: ControlEventType.TOOL_RESULT, ref: call, data };
  },
  approve(call: string, approved: boolean, reason?: string): ClientEvent {
    const data: ApprovalData = reason === undefined ? { approved } : { approved, reason };
    return { type: ControlEventType.APPROVAL, ref: call, data };
  },
  handoff(action: HandoffAction, reason?: string): ClientEvent {
    const data: HandoffData = reason === undefined ? { action } : { action, reason };
    return { type: ControlEventType.HANDOFF, data };
  },
} as const;
