import {
  decodeMsgpack,
  isEventId,
  isEventType,
  isParticipantId,
  isParticipantKind,
  type Participant,
  type SessionEvent,
  type SessionRecord,
  type Subjects,
} from "@threadline/protocol";

/** A stored event with the subject it was stored under (`<prefix>.<session>.<lane>.<kind>.<participant>`). */
export interface SubjectRecord<TData = unknown> extends SessionRecord<TData> {
  subject: string;
  /**
   * The `from` the stored envelope claimed when it differed from the author
   * the subject names; `event.from` is then that author (PROTOCOL.md §4).
   */
  forgedFrom?: Participant;
}

/**
 * Decodes a stored message into a record. Returns a string describing the
 * problem instead when the subject is not a Threadline event subject or the
 * payload is not a msgpack `SessionEvent` envelope — something other than a
 * Threadline publisher wrote it; readers skip (history) or terminate
 * (input consumers) such messages rather than failing the whole read.
 *
 * `event.from` is pinned to the author the subject names, as the gateway
 * does for clients (PROTOCOL.md §4): NATS permissions pin each publisher to
 * its own subjects, not to what it writes in the envelope, so an agent
 * claiming to be a user or an operator (a forged `approval` on its own
 * control lane) is read as itself; `forgedFrom` keeps the claim.
 */
export function decodeRecord(
  subjects: Subjects,
  subject: string,
  seq: number,
  data: Uint8Array,
): SubjectRecord | string {
  const parsed = subjects.parse(subject);
  if (!parsed) return `subject ${subject} is not a Threadline event subject`;
  let value: unknown;
  try {
    value = decodeMsgpack(data);
  } catch (error) {
    return `payload is not msgpack: ${error instanceof Error ? error.message : String(error)}`;
  }
  const problem = envelopeProblem(value);
  if (problem) return problem;
  const event = value as SessionEvent;
  if (event.from.kind === parsed.kind && event.from.id === parsed.participant) {
    return { session: parsed.session, seq, subject, event };
  }
  const pinned = { ...event, from: { kind: parsed.kind, id: parsed.participant } };
  return { session: parsed.session, seq, subject, event: pinned, forgedFrom: event.from };
}

function envelopeProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "payload is not an event envelope";
  const e = value as Record<string, unknown>;
  if (!isEventId(e.id)) return "envelope has no valid id";
  if (!isEventType(e.type)) return "envelope has no valid type";
  if (typeof e.ts !== "number") return "envelope has no ts";
  const from = e.from as Record<string, unknown> | undefined;
  if (typeof from !== "object" || from === null || !isParticipantKind(from.kind) || !isParticipantId(from.id)) {
    return "envelope has no valid from";
  }
  if (e.turn !== undefined && typeof e.turn !== "string") return "envelope turn is not a string";
  if (e.ref !== undefined && typeof e.ref !== "string") return "envelope ref is not a string";
  return undefined;
}
