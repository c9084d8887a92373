import type { StreamChunk } from "@tanstack/ai";
import type { TurnView } from "../ai-sdk/turn-tracker.ts";

/** A part read field by field (the protocol's `MessagePart` union, any shape). */
type Part = { type: string } & Record<string, unknown>;

interface SentPart {
  type: string;
  /** Text / reasoning: characters sent. */
  length?: number;
  /** Tool parts: 1 once the call (start, args, end) was sent, 2 once its result was. */
  stage?: number;
}

/**
 * Turns successive states of a {@link TurnView} into the AG-UI events TanStack
 * AI's `ChatClient` consumes, for one run (= one root turn): `RUN_STARTED`,
 * one assistant message (the turn's first message id) whose text and reasoning
 * grow by `TEXT_MESSAGE_CONTENT` / `REASONING_MESSAGE_CONTENT` deltas, tool
 * calls as `TOOL_CALL_START`/`ARGS`/`END` once their input is complete and
 * `TOOL_CALL_RESULT` once they have an output; then `TEXT_MESSAGE_END` and
 * `RUN_FINISHED` (completed, cancelled, interrupted) or `RUN_ERROR` (failed).
 * AG-UI events only add: a part rewritten in place (`message.update`) is not
 * shown until the chat reloads, which replays the whole reply. Data, source
 * and file parts have no AG-UI event and are not streamed (`hydrate` returns
 * what TanStack messages can hold).
 */
export class AguiChunkWriter {
  private sent: SentPart[] = [];
  private started = false;
  private messageId: string | undefined;
  private finished = false;

  constructor(
    private readonly threadId: string,
    private readonly runId: string,
  ) {}

  /** Events that bring the chat from what was sent so far to `view`. */
  sync(view: TurnView): StreamChunk[] {
    const out: Record<string, unknown>[] = [];
    if (this.finished) return [];
    if (!this.started) {
      this.started = true;
      out.push({ type: "RUN_STARTED", threadId: this.threadId, runId: this.runId });
    }
    const first = view.messages[0];
    if (first && this.messageId === undefined) {
      this.messageId = first.id;
      out.push({ type: "TEXT_MESSAGE_START", messageId: first.id, role: "assistant" });
    }
    const messageId = this.messageId;
    if (messageId === undefined) return out as unknown as StreamChunk[];
    const parts = view.messages.flatMap((m) => m.parts as readonly Part[]);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as Part;
      const sent = this.sent[i];
      if (sent && sent.type !== part.type) continue;
      if (part.type === "text" || part.type === "reasoning") {
        const text = typeof part.text === "string" ? part.text : "";
        const from = sent?.length ?? 0;
        if (text.length > from) {
          out.push({
            type: part.type === "text" ? "TEXT_MESSAGE_CONTENT" : "REASONING_MESSAGE_CONTENT",
            messageId,
            delta: text.slice(from),
          });
        }
        this.sent[i] = { type: part.type, length: Math.max(text.length, from) };
      } else if (part.type === "dynamic-tool" || part.type.startsWith("tool-")) {
        this.syncTool(i, part, sent, messageId, out);
      } else {
        this.sent[i] = { type: part.type };
      }
    }
    return out as unknown as StreamChunk[];
  }

  /** Ends the run with the turn's outcome. Nothing after this. */
  finish(view: TurnView): StreamChunk[] {
    const out = this.sync(view) as unknown as Record<string, unknown>[];
    if (this.finished) return [];
    this.finished = true;
    if (this.messageId !== undefined) out.push({ type: "TEXT_MESSAGE_END", messageId: this.messageId });
    const outcome = view.outcome;
    if (outcome?.status === "failed") {
      const message = outcome.error ?? outcome.reason ?? "the agent's turn failed";
      out.push({ type: "RUN_ERROR", threadId: this.threadId, runId: this.runId, message, error: { message } });
    } else {
      out.push({
        type: "RUN_FINISHED",
        threadId: this.threadId,
        runId: this.runId,
        finishReason: outcome?.status === "completed" || outcome === undefined ? "stop" : null,
        ...(outcome && outcome.status !== "completed" ? { metadata: { threadline: { status: outcome.status } } } : {}),
      });
    }
    return out as unknown as StreamChunk[];
  }

  private syncTool(
    i: number,
    part: Part,
    sent: SentPart | undefined,
    messageId: string,
    out: Record<string, unknown>[],
  ): void {
    const state = String(part.state);
    const toolCallId = String(part.toolCallId);
    const toolName = part.type === "dynamic-tool" ? String(part.toolName) : part.type.slice("tool-".length);
    const hasInput = state !== "input-streaming" && part.input !== undefined;
    let stage = sent?.stage ?? 0;
    if (stage < 1 && hasInput) {
      out.push({ type: "TOOL_CALL_START", toolCallId, toolCallName: toolName, toolName, parentMessageId: messageId });
      out.push({ type: "TOOL_CALL_ARGS", toolCallId, delta: JSON.stringify(part.input) });
      out.push({ type: "TOOL_CALL_END", toolCallId, input: part.input });
      stage = 1;
    }
    if (stage === 1 && (state === "output-available" || state === "output-error")) {
      const failed = state === "output-error";
      out.push({
        type: "TOOL_CALL_RESULT",
        messageId,
        toolCallId,
        content: failed ? String(part.errorText ?? "tool failed") : JSON.stringify(part.output ?? null),
        ...(failed ? { state: "output-error" } : {}),
      });
      stage = 2;
    }
    this.sent[i] = { type: part.type, stage };
  }
}
