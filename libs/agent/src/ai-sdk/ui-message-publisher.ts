import type { MessageEndStatus, MessagePart } from "@threadline/protocol";
import { readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";
import type { MessageWriter } from "../message-writer.ts";

/** The writer operations the publisher uses (a `MessageWriter` from `startMessage`). */
export type UIMessageTarget = Pick<MessageWriter, "append" | "setPart" | "update" | "end" | "status">;

export interface UIMessageStreamOutcome {
  /** How the message should end: `complete`, `cancelled` (an `abort` chunk or the signal), `error` (an `error` chunk or a failed stream). */
  status: MessageEndStatus;
  error?: string;
  /** The `start` chunk's message id, when the stream set one. */
  messageId?: string;
  /** The message's final parts as the AI SDK built them. */
  parts: MessagePart[];
}

/**
 * Reads a UI message stream (`streamText(…).toUIMessageStream()`, or any
 * `createUIMessageStream`) and writes the message it builds into `writer`,
 * exactly as the AI SDK's own `readUIMessageStream` materializes it: text and
 * reasoning grow by appends (one per chunk; the writer batches them), tool
 * calls, sources, files, data and step markers are set as whole parts each
 * time they change, and a change that is not an append (parts removed by
 * `reset-step`, a rewritten text) replaces all parts (`message.update`).
 * Then ends the message: `complete`; `cancelled` after an `abort` chunk or
 * when `signal` aborted (a writer started with the turn's signal has then
 * already ended it); `error` with the text of an `error` chunk or of a
 * failing stream. Resolves with the outcome; rejects when the writer fails.
 * @example
 *   const writer = startMessage(agent, session, { turn, signal });
 *   const result = streamText({ model, prompt, abortSignal: signal });
 *   await publishUIMessageStream(writer, result.toUIMessageStream({ onError: String }), { signal });
 */
export async function publishUIMessageStream(
  writer: UIMessageTarget,
  stream: ReadableStream<UIMessageChunk>,
  options: { signal?: AbortSignal } = {},
): Promise<UIMessageStreamOutcome> {
  let status: MessageEndStatus = "complete";
  let error: string | undefined;
  let messageId: string | undefined;
  // The chunks themselves say how the stream ended; readUIMessageStream only yields the message.
  const observed = stream.pipeThrough(
    new TransformStream<UIMessageChunk, UIMessageChunk>({
      transform(chunk, controller) {
        if (chunk.type === "start" && chunk.messageId !== undefined) messageId = chunk.messageId;
        else if (chunk.type === "abort") status = "cancelled";
        else if (chunk.type === "error" && status !== "cancelled") {
          status = "error";
          error = chunk.errorText;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  const differ = new PartDiffer(writer);
  try {
    for await (const message of readUIMessageStream<UIMessage>({
      stream: observed,
      onError: (e) => {
        if (status === "complete") {
          status = "error";
          error = errorText(e);
        }
      },
    })) {
      await differ.write(message.parts as MessagePart[]);
    }
  } catch (e) {
    if (status === "complete") {
      status = "error";
      error = errorText(e);
    }
  }
  if (options.signal?.aborted) status = "cancelled";
  // A writer bound to the aborted signal already ended the message `cancelled`; end() then returns `closed`.
  await writer.end(status, status === "error" ? error : undefined);
  return {
    status,
    ...(error === undefined || status !== "error" ? {} : { error }),
    ...(messageId === undefined ? {} : { messageId }),
    parts: differ.parts,
  };
}

/** Writes successive full part lists as the smallest `message.*` operations. */
class PartDiffer {
  /** What the sink holds now. */
  parts: MessagePart[] = [];

  constructor(private readonly sink: UIMessageTarget) {}

  async write(next: MessagePart[]): Promise<void> {
    // After the turn's signal the writer has ended the message and ignores writes; stop diffing.
    if (this.sink.status !== "streaming") return;
    if (!this.appendable(next)) {
      const parts = next.map(clean);
      await this.sink.update(parts);
      // The writer holds `parts` until it is published: never mutate it.
      this.parts = parts.slice();
      return;
    }
    for (let i = 0; i < next.length; i++) {
      const part = next[i] as MessagePart;
      const had = this.parts[i];
      if (isTextLike(part)) {
        const value = clean(part) as MessagePart & { text: string };
        const sent = had ? (had as { text: string }).text : undefined;
        if (sent === undefined) {
          // An empty text part is opened once it has text, unless a later part needs its index now.
          if (part.text.length === 0 && i === next.length - 1) return;
          // Fields besides the text (an id, provider metadata) need the part set whole; plain text is appended.
          if (extras(value) === "{}") await this.sink.append(part.text, { part: i, type: part.type });
          else await this.sink.setPart(i, value);
        } else if (extras(value) !== extras(had as MessagePart)) {
          await this.sink.setPart(i, value);
        } else if (part.text.length > sent.length) {
          await this.sink.append(part.text.slice(sent.length), { part: i, type: part.type });
        } else continue;
        this.parts[i] = value;
        continue;
      }
      const value = clean(part);
      if (had && JSON.stringify(had) === JSON.stringify(value)) continue;
      await this.sink.setPart(i, value);
      this.parts[i] = value;
    }
  }

  /** True when `next` extends what was written (same parts, texts only grown). */
  private appendable(next: MessagePart[]): boolean {
    if (next.length < this.parts.length) return false;
    return this.parts.every((had, i) => {
      const part = next[i] as MessagePart;
      if (part.type !== had.type) return false;
      if (isTextLike(part)) return part.text.startsWith((had as { text: string }).text);
      if (part.type === "dynamic-tool" || part.type.startsWith("tool-")) {
        return (part as { toolCallId?: unknown }).toolCallId === (had as { toolCallId?: unknown }).toolCallId;
      }
      return true;
    });
  }
}

function isTextLike(part: MessagePart): part is MessagePart & { type: "text" | "reasoning"; text: string } {
  return (part.type === "text" || part.type === "reasoning") && typeof (part as { text?: unknown }).text === "string";
}

/**
 * The part as stored, without undefined fields. Text-like parts are
 * `state: "streaming"` as if opened by appends: `message.end` marks them `done`.
 */
function clean(part: MessagePart): MessagePart {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(part)) if (value !== undefined) out[key] = value;
  if (part.type === "text" || part.type === "reasoning") out.state = "streaming";
  return out as unknown as MessagePart;
}

/** JSON of a text-like part's fields other than its type, text and state. */
function extras(part: MessagePart): string {
  const { type: _type, text: _text, state: _state, ...rest } = part as MessagePart & { text?: string; state?: string };
  return JSON.stringify(rest);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
