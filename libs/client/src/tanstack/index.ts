/**
 * `@threadline/client/tanstack`: TanStack AI (`@tanstack/ai-client`)
 * integration — a `ConnectionAdapter` (subscribe/send, with hydrate and
 * joinRun) that runs a `ChatClient` over a Threadline session.
 */
export type { ThreadlineConnection, ThreadlineConnectionOptions } from "./connection.ts";
export { MAX_BUFFERED_CHUNKS, threadlineConnection } from "./connection.ts";
