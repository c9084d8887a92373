/**
 * `@threadline/agent/ai-sdk`: Vercel AI SDK (`ai` v7) integration — publish a
 * `streamText` result into a session as a streamed message, with the turn's
 * cancel signal wired into the model call.
 */

export { sessionUIMessages } from "./session-ui-messages.ts";
export type {
  StreamTextToSessionOptions,
  StreamTextTurn,
  UIMessageStreamSource,
} from "./stream-text-to-session.ts";
export { ModelCallError, streamTextToSession } from "./stream-text-to-session.ts";
export type { UIMessageStreamOutcome, UIMessageTarget } from "./ui-message-publisher.ts";
export { publishUIMessageStream } from "./ui-message-publisher.ts";
