import { Lane, ParticipantKind, type Subjects } from "@threadline/protocol";
import type { HistoryReader } from "@threadline/store";

/**
 * Who a session's notifications go to: every participant id `U` that wrote
 * to the session as a user (a subject `<prefix>.<s>.{in,ctl,st}.user.U`),
 * before the trigger. "Before" makes the audience of a trigger the same for
 * every replica, whenever it looks (a user who joins later is not notified of
 * what happened before they came). Operators and agents are never notified.
 */
export interface SessionAudience {
  /** The stream has been read up to this seq for this session (0: not at all). */
  readSeq: number;
  /** Each user and the seq of their first write, in first-write order. */
  users: Map<string, number>;
  /** More users wrote than the cache keeps per session ({@link MAX_USERS_PER_SESSION}): later ones are not notified. */
  capped: boolean;
}

/** Users kept per session; further writers are not notified (and the cap is logged once per session). */
export const MAX_USERS_PER_SESSION = 1000;

const USER_LANES: ReadonlySet<string> = new Set([Lane.IN, Lane.CTL, Lane.ST]);

/** Adds the users of scanned subjects to `audience` (pure but for the mutation of `audience`). */
export function addUserWrites(
  audience: SessionAudience,
  subjects: Subjects,
  messages: readonly { seq: number; subject: string }[],
  maxUsers = MAX_USERS_PER_SESSION,
): void {
  for (const { seq, subject } of messages) {
    audience.readSeq = Math.max(audience.readSeq, seq);
    const parsed = subjects.parse(subject);
    if (!parsed || parsed.kind !== ParticipantKind.USER || !USER_LANES.has(parsed.lane)) continue;
    if (audience.users.has(parsed.participant)) continue;
    if (audience.users.size >= maxUsers) audience.capped = true;
    else audience.users.set(parsed.participant, seq);
  }
}

/** The users who wrote before `seq` (pure). */
export function usersBefore(audience: SessionAudience, seq: number): string[] {
  return [...audience.users].filter(([, first]) => first < seq).map(([user]) => user);
}

/**
 * The audience of each session, read from the stream with a headers-only
 * scan of its user lanes (`<prefix>.<s>.*.user.*`) and extended
 * incrementally from the last seq read. Bounded: at most `maxSessions`
 * sessions (least recently used evicted; an evicted session is read again
 * from the start when it next has a trigger) and
 * {@link MAX_USERS_PER_SESSION} users each. Reads of one session are
 * serialised; a failed read rejects (the trigger is retried later).
 */
export class AudienceCache {
  private readonly sessions = new Map<string, SessionAudience>();
  private readonly reads = new Map<string, Promise<SessionAudience>>();

  constructor(
    private readonly reader: HistoryReader,
    private readonly subjects: Subjects,
    private readonly maxSessions: number,
  ) {
    if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new RangeError("maxSessions must be ≥ 1");
  }

  /** Sessions cached now (≤ `maxSessions`). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * The session's audience, read at least up to `seq` (the trigger: it is
   * stored, so a read covering up to it — `until`, checked with the stream
   * leader — sees every user who wrote before it).
   * @example
   *   const { users } = await cache.audience("s1", trigger.seq);
   */
  async audience(session: string, seq: number): Promise<SessionAudience> {
    const cached = this.sessions.get(session);
    if (cached && cached.readSeq >= seq) return this.touch(session, cached);
    const running = this.reads.get(session);
    if (running) {
      const after = await running;
      if (after.readSeq >= seq) return this.touch(session, after);
    }
    const read = this.extend(session, seq);
    this.reads.set(session, read);
    try {
      return this.touch(session, await read);
    } finally {
      if (this.reads.get(session) === read) this.reads.delete(session);
    }
  }

  private async extend(session: string, seq: number): Promise<SessionAudience> {
    const base = this.sessions.get(session);
    const next: SessionAudience = base
      ? { readSeq: base.readSeq, users: new Map(base.users), capped: base.capped }
      : { readSeq: 0, users: new Map(), capped: false };
    const filter = `${this.subjects.prefix}.${session}.*.${ParticipantKind.USER}.*`;
    // `until`: the read's consumer may sit on a replica that has not stored the user's latest write
    // yet; without it the user would be missing from the audience for good (readSeq moves to seq).
    for await (const batch of this.reader.read(filter, next.readSeq, { headersOnly: true, until: seq })) {
      addUserWrites(next, this.subjects, batch);
    }
    next.readSeq = Math.max(next.readSeq, seq);
    return next;
  }

  private touch(session: string, audience: SessionAudience): SessionAudience {
    this.sessions.delete(session);
    this.sessions.set(session, audience);
    while (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    return audience;
  }
}
