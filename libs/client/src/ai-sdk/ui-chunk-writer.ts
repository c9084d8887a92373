import type { UIMessageChunk } from "ai";
import type { TurnView } from "./turn-tracker.ts";

/** A part read field by field (the protocol's `MessagePart` union, any shape). */
type MessagePart = { type: string } & Record<string, unknown>;

/** How far a tool part has been sent, in the order the AI SDK moves a tool call through. */
const TOOL_STAGES: Record<string, number> = {
  "input-streaming": 0,
  "input-available": 1,
  "approval-requested": 2,
  "approval-responded": 3,
  "output-available": 4,
  "output-error": 4,
  "output-denied": 4,
};

interface SentPart {
  type: string;
  /** Text sent so far (text / reasoning parts). */
  text?: string;
  /** The chunk id of a text / reasoning part; undefined once it was ended. */
  openId?: string;
  /** Tool parts: call id and the JSON of the last state sent. */
  toolCallId?: string;
  stage?: number;
  /** JSON of the part as last sent (non-text parts), to detect changes. */
  json?: string;
}

/**
 * Turns successive states of a {@link TurnView} into the `UIMessageChunk`s
 * that make `AbstractChat` show the same parts: all assistant messages of the
 * turn become one UI message (the first message's id), text grows by
 * `text-delta`s, tool parts advance through the tool chunks, data / source /
 * file parts are sent whole (a text-like part without an `id` gets chunk id
 * `p<index>`, which the AI SDK stores on reasoning parts). A change that chunks cannot express in place
 * (a text rewritten by `message.update`, a removed part) within the current
 * step (the parts after the last `step-start`) is sent as `reset-step` and
 * the step's parts again; a rewrite of an earlier step is not shown until
 * the chat reconnects (the reconnect replays the whole reply).
 */
export class UIChunkWriter {
  private sent: SentPart[] = [];
  private started = false;
  private finished = false;
  private metadataJson: string | undefined;
  /** The parts being synced. */
  private current: readonly MessagePart[] = [];

  /** Chunks that bring the chat from what was sent so far to `view`. */
  sync(view: TurnView): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    if (this.finished) return out;
    const first = view.messages[0];
    if (!first) return out;
    if (!this.started) {
      this.started = true;
      out.push({ type: "start", messageId: first.id });
    }
    const metadata = first.metadata;
    if (metadata !== undefined) {
      const json = JSON.stringify(metadata);
      if (json !== this.metadataJson) {
        this.metadataJson = json;
        out.push({ type: "message-metadata", messageMetadata: metadata });
      }
    }
    const parts = view.messages.flatMap((m) => m.parts as readonly MessagePart[]);
    this.current = parts;
    if (!this.expressible(parts)) {
      const step = lastStepStart(this.sent);
      if (!this.samePrefix(parts, step + 1)) return out;
      out.push({ type: "reset-step" });
      this.sent = this.sent.slice(0, step + 1);
    }
    for (let i = 0; i < parts.length; i++) this.syncPart(i, parts[i] as MessagePart, out);
    return out;
  }

  /** Ends the reply: closes open text parts and sends the turn's outcome. Nothing after this. */
  finish(view: TurnView): UIMessageChunk[] {
    const out = this.sync(view);
    if (this.finished) return out;
    this.finished = true;
    if (!this.started) {
      const id = view.messages[0]?.id;
      out.push(id === undefined ? { type: "start" } : { type: "start", messageId: id });
    }
    this.closeOpen(this.sent.length, out);
    const outcome = view.outcome;
    switch (outcome?.status) {
      case "cancelled":
        out.push(outcome.reason === undefined ? { type: "abort" } : { type: "abort", reason: outcome.reason });
        break;
      case "failed":
        out.push({ type: "error", errorText: outcome.error ?? outcome.reason ?? "the agent's turn failed" });
        break;
      case "interrupted":
        out.push({ type: "finish", finishReason: "interrupted" });
        break;
      default:
        out.push({ type: "finish" });
    }
    return out;
  }

  /** True when every part sent so far can be brought to `parts` by appending chunks. */
  private expressible(parts: MessagePart[]): boolean {
    if (parts.length < this.sent.length) return false;
    return this.sent.every((sent, i) => {
      const part = parts[i] as MessagePart;
      if (part.type !== sent.type) return false;
      if (sent.text !== undefined) {
        const text = typeof part.text === "string" ? part.text : "";
        return sent.openId === undefined ? text === sent.text : text.startsWith(sent.text);
      }
      if (sent.toolCallId !== undefined) {
        return part.toolCallId === sent.toolCallId && (TOOL_STAGES[String(part.state)] ?? 0) >= (sent.stage ?? 0);
      }
      if (part.type.startsWith("data-")) return part.id === undefined ? JSON.stringify(part) === sent.json : true;
      return JSON.stringify(part) === sent.json;
    });
  }

  /**
   * True when the first `count` sent parts are unchanged in `parts`, or only moved on in ways chunks
   * express without their position: a tool call advancing (its chunks name its `toolCallId`, e.g. the
   * output of a call made in an earlier step arriving while the current step is rewritten).
   */
  private samePrefix(parts: MessagePart[], count: number): boolean {
    for (let i = 0; i < count; i++) {
      const part = parts[i];
      const sent = this.sent[i] as SentPart;
      if (!part || part.type !== sent.type) return false;
      if (sent.toolCallId !== undefined) {
        if (part.toolCallId !== sent.toolCallId || (TOOL_STAGES[String(part.state)] ?? 0) < (sent.stage ?? 0)) {
          return false;
        }
        continue;
      }
      if (
        sent.text !== undefined
          ? part.text !== sent.text
          : sent.json !== undefined && JSON.stringify(part) !== sent.json
      )
        return false;
    }
    return true;
  }

  private syncPart(i: number, part: MessagePart, out: UIMessageChunk[]): void {
    const sent = this.sent[i];
    if (part.type === "text" || part.type === "reasoning") {
      const text = typeof part.text === "string" ? part.text : "";
      if (!sent) {
        this.closeOpen(i, out);
        // The part's own id (reasoning parts carry the model's) keeps it; parts without one get their index.
        const id = typeof part.id === "string" && part.id.length > 0 ? part.id : `p${i}`;
        this.sent[i] = { type: part.type, text, openId: id };
        out.push({ type: part.type === "text" ? "text-start" : "reasoning-start", id, ...metadataOf(part) });
        if (text.length > 0) out.push(delta(part.type, id, text));
      } else if (sent.openId !== undefined && text.length > (sent.text ?? "").length) {
        out.push(delta(part.type, sent.openId, text.slice((sent.text ?? "").length)));
        sent.text = text;
      }
      return;
    }
    if (!sent) this.closeOpen(i, out);
    if (part.type === "dynamic-tool" || part.type.startsWith("tool-")) {
      this.syncTool(i, part, sent, out);
      return;
    }
    const json = JSON.stringify(part);
    if (sent?.json === json) return;
    this.sent[i] = { type: part.type, json };
    const chunk = wholePartChunk(part);
    if (chunk) out.push(chunk);
  }

  private syncTool(i: number, part: MessagePart, sent: SentPart | undefined, out: UIMessageChunk[]): void {
    const json = JSON.stringify(part);
    if (sent?.json === json) return;
    const toolCallId = String(part.toolCallId);
    const dynamic = part.type === "dynamic-tool";
    const toolName = dynamic ? String(part.toolName) : part.type.slice("tool-".length);
    const stage = TOOL_STAGES[String(part.state)] ?? 0;
    const from = sent?.stage ?? -1;
    const common = {
      toolCallId,
      ...(dynamic ? { dynamic: true } : {}),
      ...(part.providerExecuted === true ? { providerExecuted: true } : {}),
    };
    const title = typeof part.title === "string" ? { title: part.title } : {};
    if (!sent) out.push({ type: "tool-input-start", toolName, ...common, ...title });
    const inputError = part.state === "output-error" && part.input === undefined;
    if (stage >= 1 && from < 1 && !inputError) {
      out.push({ type: "tool-input-available", toolName, input: part.input, ...common, ...title });
    }
    const approval = part.approval as { id?: string; approved?: boolean; reason?: string } | undefined;
    if (stage >= 2 && from < 2 && approval?.id !== undefined && part.state !== "output-error") {
      out.push({ type: "tool-approval-request", approvalId: approval.id, toolCallId });
    }
    if (stage >= 3 && from < 3 && approval?.id !== undefined && approval.approved !== undefined) {
      out.push({
        type: "tool-approval-response",
        approvalId: approval.id,
        approved: approval.approved,
        ...(approval.reason === undefined ? {} : { reason: approval.reason }),
      });
    }
    if (stage === 4) {
      if (part.state === "output-available") {
        out.push({
          type: "tool-output-available",
          output: part.output,
          ...common,
          ...(part.preliminary === true ? { preliminary: true } : {}),
        });
      } else if (part.state === "output-error" && (from < 4 || sent?.json !== json)) {
        const errorText = typeof part.errorText === "string" ? part.errorText : "tool failed";
        out.push(
          inputError
            ? { type: "tool-input-error", toolName, input: part.rawInput, errorText, ...common }
            : { type: "tool-output-error", errorText, ...common },
        );
      } else if (part.state === "output-denied" && from < 4) {
        out.push({ type: "tool-output-denied", toolCallId });
      }
    }
    this.sent[i] = { type: part.type, toolCallId, stage, json };
  }

  /** Ends the open text / reasoning parts before index `limit` (with their current provider metadata). */
  private closeOpen(limit: number, out: UIMessageChunk[]): void {
    const parts = this.current;
    for (let i = 0; i < limit; i++) {
      const sent = this.sent[i];
      if (sent?.openId === undefined) continue;
      out.push({
        type: sent.type === "text" ? "text-end" : "reasoning-end",
        id: sent.openId,
        ...metadataOf(parts?.[i]),
      });
      sent.openId = undefined;
    }
  }
}

function metadataOf(part: MessagePart | undefined): { providerMetadata?: never } {
  const metadata = part?.providerMetadata;
  return typeof metadata === "object" && metadata !== null ? { providerMetadata: metadata as never } : {};
}

function delta(type: string, id: string, text: string): UIMessageChunk {
  return type === "text" ? { type: "text-delta", id, delta: text } : { type: "reasoning-delta", id, delta: text };
}

function lastStepStart(sent: SentPart[]): number {
  for (let i = sent.length - 1; i >= 0; i--) if (sent[i]?.type === "step-start") return i;
  return -1;
}

/** The chunk that adds a data / source / file / step part as a whole; undefined for shapes chunks cannot carry. */
function wholePartChunk(part: MessagePart): UIMessageChunk | undefined {
  switch (part.type) {
    case "step-start":
      return { type: "start-step" };
    case "source-url":
    case "source-document":
    case "file":
    case "reasoning-file": {
      const { state: _state, ...rest } = part;
      return rest as UIMessageChunk;
    }
    default:
      if (part.type.startsWith("data-")) return part as UIMessageChunk;
      return undefined;
  }
}
