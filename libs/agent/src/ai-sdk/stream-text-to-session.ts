import type { UIMessageChunk } from "ai";
import type { MessageWriterOptions } from "../message-writer.ts";
import type { TurnContext } from "../turn-context.ts";
import { publishUIMessageStream, type UIMessageStreamOutcome } from "./ui-message-publisher.ts";

/** The part of a `streamText(…)` result (or an `Agent.stream(…)` result) the adapter reads. */
export interface UIMessageStreamSource {
  toUIMessageStream(options?: { onError?: (error: unknown) => string }): ReadableStream<UIMessageChunk>;
}

/** Options of {@link streamTextToSession}: the message writer's (id, metadata, batching). */
export type StreamTextToSessionOptions = Pick<
  MessageWriterOptions,
  "id" | "metadata" | "author" | "flushMs" | "maxBytes" | "maxInFlight"
>;

/** The turn fields the adapter uses: its message writer (bound to the turn and its signal) and the cancel signal. */
export type StreamTextTurn = Pick<TurnContext, "signal" | "startMessage">;

/** The model call behind {@link streamTextToSession} failed; `message` is the model error's text. */
export class ModelCallError extends Error {
  override name = "ModelCallError";
}

/**
 * Streams a model reply into the turn's session as one assistant message:
 * calls `run` with the turn's cancel signal (pass it as `streamText`'s
 * `abortSignal`, so a `cancel` from any device aborts the model call), and
 * publishes the result's UI message stream through a batching message writer
 * (text and reasoning deltas coalesced, tool calls, sources, files and data
 * parts set whole). The message ends `complete`, `cancelled` (the turn was
 * cancelled: the writer publishes what is buffered and ends it at once) or
 * `error` (the model call failed: the message ends with the model error's
 * text, then this rejects with a {@link ModelCallError}, so a handler that
 * lets it propagate ends the turn `failed` and chats show the error; catch it
 * to recover, e.g. retry with another model). Otherwise it resolves with the
 * outcome and the pool ends the turn `completed`, or `cancelled` after a cancel.
 * @example
 *   serveAgent({ agent, name: "chat", entry: true, handler: (ctx) =>
 *     streamTextToSession(ctx, (abortSignal) =>
 *       streamText({ model, prompt: ctx.text ?? "", abortSignal })) });
 */
export async function streamTextToSession(
  ctx: StreamTextTurn,
  run: (signal: AbortSignal) => UIMessageStreamSource | PromiseLike<UIMessageStreamSource>,
  options: StreamTextToSessionOptions = {},
): Promise<UIMessageStreamOutcome & { messageId: string }> {
  const writer = ctx.startMessage(options);
  let source: UIMessageStreamSource;
  try {
    source = await run(ctx.signal);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    await writer.end(ctx.signal.aborted ? "cancelled" : "error", ctx.signal.aborted ? undefined : text);
    throw error;
  }
  const stream = source.toUIMessageStream({
    onError: (error) => (error instanceof Error ? error.message : String(error)),
  });
  const outcome = await publishUIMessageStream(writer, stream, { signal: ctx.signal });
  // A failed model call fails the turn (turn.end `failed` with the error text), so every chat shows the error.
  if (outcome.status === "error") throw new ModelCallError(outcome.error ?? "the model call failed");
  return { ...outcome, messageId: writer.id };
}
