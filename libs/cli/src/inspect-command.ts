import type { CliIO } from "./cli-io.ts";
import { CONNECTION_HELP, connectionSettings, durationFlag, parseCommandLine } from "./cli-options.ts";
import { readEntries } from "./kv-entries.ts";
import { openNatsContext } from "./nats-context.ts";
import { sessionArgument } from "./session-argument.ts";
import { SessionHistory } from "./session-history.ts";
import { age, buildReport, type SessionReport } from "./session-report.ts";
import { readStored } from "./stream-reader.ts";
import { clock } from "./timeline-format.ts";

export const INSPECT_HELP = `Usage: threadline inspect <session> [--unstarted-after 30s] [--orphan-after 10s]

Reads the session's whole history, its presence entries, device cursors and
control state (turns, calls, owner) and prints: participants and presence,
turns and their status, message count, device cursors and how far behind
each is, and anomalies:
  turn-orphaned        a running turn has no live worker: its control entry's lease (leaseUntil,
                       renewed by the worker) ran out, whatever ran after it; for entries
                       without a lease: running longer than --orphan-after and its worker
                       has no presence in the session
  turn-unstarted       an input / turn.request older than --unstarted-after was not picked up
  turn-state-mismatch  the control bucket and the turn events disagree
  message-open         a message never ended although its turn ended / its agent is gone
  cursor-ahead         a device cursor lies beyond the stream's last seq
  cursor-other-epoch   a device cursor is from another stream instance
  presence-stale       a presence entry outlived 3 heartbeats (is the presence service running?)
  call-overdue         a tool call / approval is pending past its deadline
  invalid-events       stored payloads that are not event envelopes
  invalid-entries      bucket entries that are not valid
Exit code 0 also when anomalies are found (they are a report, not a failure).

${CONNECTION_HELP}`;

/** `threadline inspect`. */
export async function inspectCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    "unstarted-after": { type: "string" },
    "orphan-after": { type: "string" },
  });
  if (values.help) {
    io.out(INSPECT_HELP);
    return 0;
  }
  const session = sessionArgument(positionals);
  const settings = connectionSettings(values, io.env);
  const unstartedAfterMs = durationFlag(values, "unstarted-after", 30_000);
  const orphanAfterMs = durationFlag(values, "orphan-after", 10_000);

  await using ctx = await openNatsContext(settings);
  const state = (await ctx.jsm.streams.info(ctx.info.stream)).state;
  const history = new SessionHistory();
  for await (const record of readStored(ctx.js, ctx.jsm, ctx.info.stream, ctx.info.subjects, {
    filter: ctx.info.subjects.session(session),
    startSeq: 1,
    follow: false,
  })) {
    history.add(record);
  }
  // A bucket this NATS user may not read (or that fails) is reported as unreadable; the rest of the report stands.
  const unreadable: { bucket: string; reason: string }[] = [];
  const entriesOf = async (bucket: string) => {
    try {
      const kv = await ctx.bucket(bucket);
      return kv ? await readEntries(kv, `${session}.>`) : undefined;
    } catch (error) {
      unreadable.push({ bucket, reason: (error as Error).message });
      return undefined;
    }
  };
  const [presence, cursors, control] = await Promise.all([
    entriesOf(settings.presenceBucket),
    entriesOf(settings.cursorBucket),
    entriesOf(settings.controlBucket),
  ]);
  const report = buildReport({
    session,
    now: io.now(),
    stream: { name: ctx.info.stream, epoch: ctx.info.epoch, lastSeq: state.last_seq },
    history,
    presence: presence ?? [],
    cursors: cursors ?? [],
    control,
    unreadable,
    unstartedAfterMs,
    orphanAfterMs,
  });
  if (values.json) io.out(JSON.stringify(report, null, 2));
  else for (const line of formatReport(report, io.now())) io.out(line);
  return 0;
}

/** The human-readable report. */
export function formatReport(r: SessionReport, now: number): string[] {
  const lines: string[] = [];
  const last = r.events.lastStored ? `, last stored ${age(now - Date.parse(r.events.lastStored))} ago` : "";
  lines.push(
    `session ${r.session}  (stream ${r.stream.name}, epoch ${r.stream.epoch}, stream last seq ${r.stream.lastSeq})`,
    `events: ${r.events.count}${r.events.firstSeq === undefined ? "" : ` (seq ${r.events.firstSeq}..${r.events.lastSeq})`}${last}${r.events.invalid ? `, ${r.events.invalid} invalid` : ""}`,
    `owner: ${r.owner === "unknown" ? "unknown (no readable control bucket)" : r.owner === null ? "agents" : `${r.owner.kind}:${r.owner.id} (handed off)`}`,
    ...r.unreadable.map((u) => `not readable: bucket ${u.bucket} (${u.reason})`),
    "",
    `present (${r.present.length}):`,
  );
  if (r.present.length === 0) lines.push("  nobody");
  for (const m of r.present) {
    const connections = m.connections
      .map((c) => `${c.device ?? c.connection} ${c.status}${c.stale ? " STALE" : ""}`)
      .join(", ");
    lines.push(
      `  ${`${m.kind}:${m.id}`.padEnd(24)} ${m.connections.length} connection${m.connections.length === 1 ? "" : "s"}: ${connections}`,
    );
  }
  if (r.absent.length > 0) {
    lines.push(
      `seen in history, not present: ${r.absent.map((a) => `${a.kind}:${a.id} (last seq ${a.lastSeq})`).join(", ")}`,
    );
  }
  lines.push("", `turns (${r.turns.length}):`);
  if (r.turns.length > 0) {
    lines.push(`  ${"turn".padEnd(28)} ${"status".padEnd(12)} ${"agent".padEnd(14)} ${"worker".padEnd(14)} seqs`);
  }
  for (const t of r.turns) {
    const seqs = [
      t.requestSeq === undefined ? "" : `asked ${t.requestSeq}`,
      t.startSeq === undefined ? "" : `started ${t.startSeq}`,
      t.endSeq === undefined ? "" : `ended ${t.endSeq}`,
      t.resumes ? `resumed ${t.resumes}x` : "",
      t.messages ? `${t.messages} msg` : "",
      t.parent ? `parent ${t.parent}` : "",
    ]
      .filter((s) => s)
      .join(", ");
    lines.push(
      `  ${t.id.padEnd(28)} ${t.status.padEnd(12)} ${(t.agent ?? "-").padEnd(14)} ${(t.worker ?? "-").padEnd(14)} ${seqs}`,
    );
  }
  const statuses = Object.entries(r.messages.byStatus)
    .map(([status, n]) => `${n} ${status}`)
    .join(", ");
  lines.push(
    "",
    `messages: ${r.messages.count}${statuses ? ` (${statuses})` : ""} in ${r.messages.events} message.* events; ${r.messages.inputs} user input${r.messages.inputs === 1 ? "" : "s"}`,
  );
  if (r.calls.length > 0) {
    lines.push(
      `calls: ${r.calls.map((c) => `${c.kind} ${c.id} (turn ${c.turn}) ${c.status}, deadline ${clock(c.deadline)}`).join("; ")}`,
    );
  }
  lines.push("", `device cursors (${r.cursors.length}):`);
  if (r.cursors.length === 0) lines.push("  none");
  for (const c of r.cursors) {
    const behind =
      c.behind === undefined
        ? "n/a"
        : c.behind === 0
          ? "up to date"
          : `${c.behind} event${c.behind === 1 ? "" : "s"} behind`;
    lines.push(
      `  ${`${c.user}/${c.device}`.padEnd(32)} seq ${String(c.seq).padEnd(8)} ${behind.padEnd(20)} acked ${age(now - c.ts)} ago`,
    );
  }
  lines.push("", r.anomalies.length === 0 ? "anomalies: none" : `anomalies (${r.anomalies.length}):`);
  for (const a of r.anomalies) lines.push(`  ! ${a.kind}: ${a.message}`);
  return lines;
}
