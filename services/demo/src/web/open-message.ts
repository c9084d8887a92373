import type { ThreadlineOpenMessage } from "@threadline/client/service-worker";
import { isSessionId } from "@threadline/protocol";

/**
 * The session a service-worker message asks the page to open: a click on a
 * notification focused this tab and posted `{type: "threadline.open",
 * session, position}` (PROTOCOL.md §20.4). Undefined for any other message
 * or a malformed session id (pure).
 * @example openedSession({ type: "threadline.open", session: "s1", position }) // "s1"
 */
export function openedSession(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const message = data as Partial<ThreadlineOpenMessage>;
  return message.type === "threadline.open" && isSessionId(message.session) ? message.session : undefined;
}
