import type { Participant } from "./envelope.ts";
import { isParticipantId } from "./ids.ts";
import { isParticipantKind, type ParticipantKind } from "./subjects.ts";

/**
 * The author a stored subject pins: `<prefix>.<session>.<lane>.<kind>.<participant>`
 * names the participant, and NATS permissions let each identity publish only
 * on its own subjects (deploy/nats). Read from the end, so a republished
 * subject (`<live>.<prefix>.…`) names the same author. Undefined when the
 * subject names no valid author.
 */
export function subjectAuthor(subject: string): { kind: ParticipantKind; id: string } | undefined {
  const tokens = subject.split(".");
  if (tokens.length < 5) return undefined;
  const kind = tokens[tokens.length - 2];
  const id = tokens[tokens.length - 1];
  return isParticipantKind(kind) && isParticipantId(id) ? { kind, id } : undefined;
}

/**
 * The `from` a reader must show for an event stored on `subject` (PROTOCOL.md §4):
 * `from` itself when its kind and id are the ones the subject pins, otherwise
 * `{kind, id}` of the subject (the claimed device is dropped with the forged
 * identity). Undefined when the subject names no author: such an event cannot
 * be attributed and is not delivered.
 * @example pinnedFrom("tl.s1.out.agent.bot", { kind: "operator", id: "olga" }) // { kind: "agent", id: "bot" }
 */
export function pinnedFrom(subject: string, from: Participant): Participant | undefined {
  const author = subjectAuthor(subject);
  if (author === undefined) return undefined;
  if (from.kind === author.kind && from.id === author.id) return from;
  return { kind: author.kind, id: author.id };
}
