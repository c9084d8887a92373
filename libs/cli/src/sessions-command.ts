import { type PresenceEntry, parsePresenceKey } from "@threadline/protocol";
import { createHistoryReader, readResuming } from "@threadline/store";
import type { CliIO } from "./cli-io.ts";
import { CONNECTION_HELP, connectionSettings, durationFlag, integerFlag, parseCommandLine } from "./cli-options.ts";
import { readEntries } from "./kv-entries.ts";
import { openNatsContext } from "./nats-context.ts";
import { age, isStalePresence } from "./session-report.ts";

export const SESSIONS_HELP = `Usage: threadline sessions [--since 15m] [--limit 1000]

Lists the active sessions. A session is active when someone is present in it
(a live entry in the presence bucket: not a tombstone, heartbeats not overdue) or when an event was
stored in it within --since (default 15 minutes). Sessions are sorted by their
last stored event, newest first.

  --since <duration>   activity window: 90s, 15m, 2h, 1d (default 15m)
  --limit <n>          print at most n sessions (default 1000)

Cost: reads the presence bucket's entries and the stream's messages stored
within the window, headers only (no payloads). At most ${"10 000"} sessions are
tracked; beyond that the listing says it is truncated.

${CONNECTION_HELP}`;

/** Sessions tracked at most while scanning (memory bound); more are counted as truncated. */
export const MAX_TRACKED_SESSIONS = 10_000;

export interface ActiveSession {
  session: string;
  /** Present participants by kind (live presence connections grouped per participant). */
  present: { user: number; operator: number; agent: number };
  /** Events stored within the window. */
  recentEvents: number;
  lastSeq?: number;
  lastStored?: string;
}

/** `threadline sessions`. */
export async function sessionsCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { since: { type: "string" }, limit: { type: "string" } });
  if (values.help) {
    io.out(SESSIONS_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    io.err(`threadline sessions takes no arguments (got ${positionals.join(" ")})`);
    return 2;
  }
  const settings = connectionSettings(values, io.env);
  const sinceMs = durationFlag(values, "since", 15 * 60_000);
  const limit = integerFlag(values, "limit", 1000);

  await using ctx = await openNatsContext(settings);
  const sessions = new Map<string, ActiveSession & { participants: Set<string> }>();
  let truncated = false;
  const track = (session: string) => {
    let s = sessions.get(session);
    if (!s) {
      if (sessions.size >= MAX_TRACKED_SESSIONS) {
        truncated = true;
        return undefined;
      }
      s = { session, present: { user: 0, operator: 0, agent: 0 }, recentEvents: 0, participants: new Set() };
      sessions.set(session, s);
    }
    return s;
  };

  let present: Awaited<ReturnType<typeof readEntries>> = [];
  try {
    const presence = await ctx.bucket(settings.presenceBucket);
    if (presence) present = await readEntries(presence);
  } catch (error) {
    io.err(`threadline sessions: presence not readable, listing by recent events only (${(error as Error).message})`);
  }
  for (const record of present) {
    const key = parsePresenceKey(record.key);
    const value = record.value as PresenceEntry | undefined;
    if (!key || typeof value !== "object" || value === null || value.gone !== undefined) continue;
    if (typeof value.heartbeatMs !== "number" || isStalePresence(value, record.written, io.now())) continue;
    const s = track(key.session);
    if (s && !s.participants.has(`${key.kind}:${key.id}`)) {
      s.participants.add(`${key.kind}:${key.id}`);
      s.present[key.kind]++;
    }
  }

  const since = io.now() - sinceMs;
  const startTime = new Date(since).toISOString();
  // The store's history reader: headers only, from the window's start, ending at the last message stored
  // when it started (not at a consumer's num_pending, which nats-server 2.9 miscounts for filtered reads).
  const history = createHistoryReader(ctx.js, ctx.jsm, { stream: ctx.info.stream });
  for await (const batch of readResuming(history, ctx.info.subjects.all(), 0, { since, headersOnly: true })) {
    for (const m of batch) {
      const parsed = ctx.info.subjects.parse(m.subject);
      const s = parsed && track(parsed.session);
      if (s) {
        s.recentEvents++;
        s.lastSeq = m.seq;
        s.lastStored = new Date(m.storedAt).toISOString();
      }
    }
  }

  const list = [...sessions.values()]
    .sort((a, b) => (b.lastSeq ?? 0) - (a.lastSeq ?? 0) || a.session.localeCompare(b.session))
    .slice(0, limit)
    .map(({ participants: _, ...s }) => s);
  if (values.json) {
    io.out(JSON.stringify({ since: startTime, truncated, count: sessions.size, sessions: list }, null, 2));
    return 0;
  }
  if (list.length === 0) {
    io.out(`no active sessions (nobody present, no events since ${startTime})`);
    return 0;
  }
  io.out(
    `${"session".padEnd(32)} ${"users".padStart(5)} ${"ops".padStart(4)} ${"agents".padStart(6)} ${"events".padStart(7)}  last event`,
  );
  for (const s of list) {
    const last = s.lastStored ? `${age(io.now() - Date.parse(s.lastStored))} ago (seq ${s.lastSeq})` : "-";
    io.out(
      `${s.session.padEnd(32)} ${String(s.present.user).padStart(5)} ${String(s.present.operator).padStart(4)} ${String(s.present.agent).padStart(6)} ${String(s.recentEvents).padStart(7)}  ${last}`,
    );
  }
  const more = sessions.size - list.length;
  if (more > 0 || truncated) {
    io.err(
      `${more > 0 ? `${more} more not shown (--limit)` : ""}${truncated ? `; stopped tracking at ${MAX_TRACKED_SESSIONS} sessions` : ""}`,
    );
  }
  return 0;
}
