/**
 * `@threadline/client/ai-sdk`: Vercel AI SDK (`ai` v7) integration — a
 * `ChatTransport` that runs `useChat` / `Chat` over a Threadline session.
 */
export type { ThreadlineChatTransportOptions } from "./chat-transport.ts";
export { ThreadlineChatTransport } from "./chat-transport.ts";
