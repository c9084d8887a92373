import { decodeMsgpack } from "./codec.ts";
import { isEventId, isSessionId } from "./ids.ts";

/**
 * The JetStream `Nats-Msg-Id` of an event: `<session>/<event id>` (PROTOCOL.md §3.3).
 *
 * The stream deduplicates by `Nats-Msg-Id` across *all* subjects, so a bare
 * event id would let an event of one session swallow another session's event
 * with the same id (issue 13 §1). Session ids are tokens `[A-Za-z0-9_-]`, so the
 * first `/` always ends the session: `a/b/c` is session `a`, event `b/c`.
 * @example dedupeKey("support-42", "m7k2") // "support-42/m7k2"
 */
export function dedupeKey(session: string, id: string): string {
  if (!isSessionId(session)) throw new TypeError(`invalid session id: ${JSON.stringify(session)}`);
  if (!isEventId(id)) throw new TypeError(`invalid event id: ${JSON.stringify(id)}`);
  return `${session}/${id}`;
}

/** The session and event id of a dedupe key, or undefined when it is not one. */
export function parseDedupeKey(key: string): { session: string; id: string } | undefined {
  const slash = key.indexOf("/");
  if (slash < 0) return undefined;
  const session = key.slice(0, slash);
  const id = key.slice(slash + 1);
  return isSessionId(session) && isEventId(id) ? { session, id } : undefined;
}

/** What a publisher stored: the subject it published to and the envelope's id and type. */
export interface PublishedEvent {
  subject: string;
  id: string;
  type: string;
}

/**
 * Why a publish acknowledgement with `duplicate: true` does NOT confirm the
 * publisher's own event, or undefined when it does. `stored` is the message
 * the stream holds at the acknowledged seq (undefined: it holds none any more).
 *
 * A duplicate ack only says "something with this `Nats-Msg-Id` was stored at
 * seq N". It is the publisher's event only when the message at N was published
 * to the same subject (same session, lane and author) with the same event id
 * and type; anything else (a foreign publisher reusing the key, another author
 * of the session using the same id) must not be answered as stored.
 */
export function duplicateAckProblem(
  published: PublishedEvent,
  stored: { subject: string; data: Uint8Array } | undefined,
): string | undefined {
  if (stored === undefined) return "the stream no longer holds the message at the acknowledged seq";
  if (stored.subject !== published.subject) {
    return `the id is already used by an event on another subject (${stored.subject})`;
  }
  let event: unknown;
  try {
    event = decodeMsgpack(stored.data);
  } catch {
    return "the stored message is not an event envelope";
  }
  if (typeof event !== "object" || event === null) return "the stored message is not an event envelope";
  const e = event as Record<string, unknown>;
  if (e.id !== published.id) return "the stored message has another event id";
  if (e.type !== published.type) return `the id is already used by an event of type ${String(e.type)}`;
  return undefined;
}
