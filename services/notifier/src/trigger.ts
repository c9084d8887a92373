import {
  type ApprovalRequestData,
  INPUT_EVENT_TYPE,
  Lane,
  ParticipantKind,
  type SessionEvent,
  type Subjects,
  type ToolCallData,
  type TurnEndData,
  TurnEventType,
  turnEventProblem,
} from "@threadline/protocol";
import { decodeRecord, type NotificationEvent, type StoredMessage } from "@threadline/store";

/**
 * A stored event that can need a person (the contract's "Triggers"):
 *
 * | kind | stored event |
 * | --- | --- |
 * | `turn.end` | lane `out`, `turn.end` with status `completed`, `failed` or `interrupted` (`cancelled`: a person did that) |
 * | `approval` | lane `out`, `approval.request` whose `approvers` include `"user"` |
 * | `tool.call` | lane `out`, `tool.call` (a client tool waits for a device) |
 * | `operator.message` | lane `in`, `input` written by an operator (`<prefix>.<s>.in.operator.<id>`) |
 */
export interface Trigger {
  kind: NotificationEvent;
  session: string;
  seq: number;
  /** When the stream stored it, ms (the server's clock): the notification's `ts`, and the delay counts from it. */
  ts: number;
  eventId: string;
  turn?: string;
  /** `turn.end`: the turn's final status. */
  status?: "completed" | "failed" | "interrupted";
  /** `approval` / `tool.call`: the call id (its control-bucket key says whether it is still pending). */
  call?: string;
  /** `approval` / `tool.call`: stream timestamp + `timeoutMs`; after it nobody can answer. */
  deadline?: number;
  /** `approval`: `data.action`; `tool.call`: `data.name`; `operator.message`: the message text (may be empty). */
  text?: string;
}

/** Longest text kept from an event: more than any title or body needs. */
const MAX_TEXT = 1000;

/**
 * The trigger a stored message is, or undefined (pure). Events that do not
 * validate (PROTOCOL.md §17.2; an envelope that does not decode) are not
 * triggers: they notify nobody.
 * @example
 *   const trigger = classifyTrigger(subjects, { seq, subject, data, storedAt });
 *   if (trigger?.kind === "approval") …
 */
export function classifyTrigger(subjects: Subjects, message: StoredMessage): Trigger | undefined {
  const parsed = subjects.parse(message.subject);
  if (!parsed) return undefined;
  const isOut = parsed.lane === Lane.OUT;
  const isOperatorInput = parsed.lane === Lane.IN && parsed.kind === ParticipantKind.OPERATOR;
  if (!isOut && !isOperatorInput) return undefined;
  const record = decodeRecord(subjects, message.subject, message.seq, message.data);
  if (typeof record === "string") return undefined;
  const { event } = record;
  const base = {
    session: record.session,
    seq: message.seq,
    ts: message.storedAt,
    eventId: event.id,
    ...(event.turn === undefined ? {} : { turn: event.turn }),
  };
  if (isOperatorInput) {
    return event.type === INPUT_EVENT_TYPE
      ? { ...base, kind: "operator.message", text: inputText(event.data) }
      : undefined;
  }
  if (turnEventProblem(event.type, withDefaultApprovers(event)) !== undefined) return undefined;
  switch (event.type) {
    case TurnEventType.END: {
      const { status } = event.data as TurnEndData;
      return status === "cancelled" ? undefined : { ...base, kind: "turn.end", status };
    }
    case TurnEventType.APPROVAL_REQUEST: {
      const data = event.data as ApprovalRequestData;
      if (data.approvers !== undefined && !data.approvers.includes("user")) return undefined;
      return { ...base, kind: "approval", ...call(data, base.ts), text: data.action.slice(0, MAX_TEXT) };
    }
    case TurnEventType.TOOL_CALL: {
      const data = event.data as ToolCallData;
      return { ...base, kind: "tool.call", ...call(data, base.ts), text: data.name.slice(0, MAX_TEXT) };
    }
    default:
      return undefined;
  }
}

/** An `approval.request` without `approvers` counts as addressed to users and operators (the contract's reading). */
function withDefaultApprovers(event: SessionEvent): SessionEvent {
  const data = event.data as Partial<ApprovalRequestData> | undefined;
  if (event.type !== TurnEventType.APPROVAL_REQUEST || typeof data !== "object" || data === null) return event;
  return data.approvers === undefined ? { ...event, data: { ...data, approvers: ["user", "operator"] } } : event;
}

function call(data: { call: string; timeoutMs: number }, ts: number): { call: string; deadline: number } {
  return { call: data.call, deadline: ts + data.timeoutMs };
}

/** An input's text: `data.text`, else its text parts joined (PROTOCOL.md §18.1); "" when none. */
function inputText(data: unknown): string {
  if (typeof data !== "object" || data === null) return "";
  const { text, parts } = data as { text?: unknown; parts?: unknown };
  if (typeof text === "string") return text.slice(0, MAX_TEXT);
  if (!Array.isArray(parts)) return "";
  return parts
    .filter((p): p is { type: "text"; text: string } => p?.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join(" ")
    .slice(0, MAX_TEXT);
}
