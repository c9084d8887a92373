import { isParticipantId, isSessionId } from "./ids.ts";

/**
 * Lanes split a session's events by who may write them and who consumes them:
 * - `in`  — input that may start a turn (users, operators). Agent worker pools consume `<prefix>.*.in.>`.
 * - `ctl` — control signals for running work: cancel, steer, tool results, approvals, handoff.
 * - `out` — agent output: messages, progress, tool calls, turn lifecycle.
 * - `sys` — system events: presence and session metadata, written by Threadline services.
 * - `st`  — shared state operations (`state` events, PROTOCOL.md §19), by users, operators and agents.
 * - `data` — data-stream appends and closes written by the gateway's Durable Streams API (PROTOCOL.md §21.3).
 */
export const Lane = { IN: "in", CTL: "ctl", OUT: "out", SYS: "sys", ST: "st", DATA: "data" } as const;
export type Lane = (typeof Lane)[keyof typeof Lane];
const LANES: ReadonlySet<string> = new Set(Object.values(Lane));

export const ParticipantKind = { USER: "user", AGENT: "agent", OPERATOR: "operator", SYSTEM: "system" } as const;
export type ParticipantKind = (typeof ParticipantKind)[keyof typeof ParticipantKind];
const KINDS: ReadonlySet<string> = new Set(Object.values(ParticipantKind));

export function isParticipantKind(value: unknown): value is ParticipantKind {
  return typeof value === "string" && KINDS.has(value);
}

export const DEFAULT_SUBJECT_PREFIX = "tl";
export const DEFAULT_LIVE_PREFIX = "live";
export const DEFAULT_STREAM_NAME = "THREADLINE";

/**
 * Subject layout: `<prefix>.<session>.<lane>.<kind>.<participant>`.
 * - `<prefix>.<session>.>` is the whole session, in stream order.
 * - `<prefix>.*.in.>` is all turn-starting input across sessions.
 * - `<prefix>.*.out.agent.<id>` pins an agent to publishing as itself.
 * The stream republishes every stored event to `<livePrefix>.<prefix>.…` (same tail),
 * which is what gateways subscribe to for live delivery.
 */
export class Subjects {
  constructor(
    readonly prefix: string = DEFAULT_SUBJECT_PREFIX,
    readonly livePrefix: string = DEFAULT_LIVE_PREFIX,
  ) {}

  /** The subject an event is published to. Throws on invalid tokens. */
  event(session: string, lane: Lane, kind: ParticipantKind, participant: string): string {
    if (!isSessionId(session)) throw new TypeError(`invalid session id: ${JSON.stringify(session)}`);
    if (!isParticipantId(participant)) throw new TypeError(`invalid participant id: ${JSON.stringify(participant)}`);
    if (!LANES.has(lane)) throw new TypeError(`invalid lane: ${JSON.stringify(lane)}`);
    if (!isParticipantKind(kind)) throw new TypeError(`invalid participant kind: ${JSON.stringify(kind)}`);
    return `${this.prefix}.${session}.${lane}.${kind}.${participant}`;
  }

  /** Filter for every event of one session (history reads). */
  session(session: string): string {
    return `${this.prefix}.${session}.>`;
  }

  /** Stream subjects (`<prefix>.>`). */
  all(): string {
    return `${this.prefix}.>`;
  }

  /** Filter for all turn-starting input across sessions (agent worker pools). */
  allInput(): string {
    return `${this.prefix}.*.${Lane.IN}.>`;
  }

  /** Republish destination pattern configured on the stream. */
  liveAll(): string {
    return `${this.livePrefix}.${this.prefix}.>`;
  }

  /** Live (republished) subject filter for one session. */
  liveSession(session: string): string {
    return `${this.livePrefix}.${this.prefix}.${session}.>`;
  }

  /** Parses a stored (or republished) subject. Returns undefined when it is not a Threadline event subject. */
  parse(subject: string): ParsedSubject | undefined {
    const tokens = subject.split(".");
    let i = 0;
    if (tokens[0] === this.livePrefix && tokens[1] === this.prefix) i = 2;
    else if (tokens[0] === this.prefix) i = 1;
    else return undefined;
    if (tokens.length !== i + 4) return undefined;
    const [session, lane, kind, participant] = tokens.slice(i) as [string, string, string, string];
    if (!isSessionId(session) || !LANES.has(lane) || !isParticipantKind(kind) || !isParticipantId(participant)) {
      return undefined;
    }
    return { session, lane: lane as Lane, kind, participant };
  }
}

export interface ParsedSubject {
  session: string;
  lane: Lane;
  kind: ParticipantKind;
  participant: string;
}

/**
 * The session token of a stored event subject (`<prefix>.<session>.<lane>.<kind>.<id>`:
 * the second token), without validating the rest — the hot path of a feed
 * that already filters on `<prefix>.>`. `""` when the subject has fewer than
 * three tokens. Use `Subjects.parse` where the subject is not trusted.
 */
export function sessionOfSubject(subject: string): string {
  const start = subject.indexOf(".") + 1;
  if (start === 0) return "";
  const end = subject.indexOf(".", start);
  return end === -1 ? "" : subject.slice(start, end);
}
