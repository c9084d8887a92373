import { type SessionEvent, traceIdOf } from "@threadline/protocol";
import type { TimelineRecord } from "./stream-reader.ts";

/** Characters of the summary column before it is cut with `…`. */
export const SUMMARY_WIDTH = 96;

/**
 * One human-readable timeline line:
 * `seq  time(UTC, publisher clock)  author  type  [turn=… ref=… trace=<trace id>] summary`.
 * @example
 *   formatRecord(record) // "    42  09:15:02.114  agent:triage          message.append    turn=t1 ref=m1 \"Hello\""
 */
export function formatRecord(record: TimelineRecord): string {
  const seq = String(record.seq).padStart(6);
  if (!record.event) {
    return `${seq}  ${clock(record.stored.getTime())}  ${"?".padEnd(20)}  ${"(invalid)".padEnd(16)}  ${record.problem ?? ""} [${record.subject}]`;
  }
  const e = record.event;
  const author = `${e.from.kind}:${e.from.id}${e.from.device ? `/${e.from.device}` : ""}`;
  const traceId = traceIdOf(e.trace);
  const tags = [
    e.turn === undefined ? "" : `turn=${e.turn}`,
    e.ref === undefined ? "" : `ref=${e.ref}`,
    traceId === undefined ? "" : `trace=${traceId}`,
  ]
    .filter((t) => t)
    .join(" ");
  const summary = cut(summarize(e), SUMMARY_WIDTH);
  return `${seq}  ${clock(e.ts)}  ${author.padEnd(20)}  ${e.type.padEnd(16)}  ${[tags, summary].filter((t) => t).join(" ")}`;
}

/** The machine-readable form of a record (`tail --json`, one per line). */
export function recordJson(record: TimelineRecord): Record<string, unknown> {
  const json: Record<string, unknown> = {
    session: record.session,
    seq: record.seq,
    subject: record.subject,
    stored: record.stored.toISOString(),
  };
  if (record.event) json.event = record.event;
  if (record.problem) json.problem = record.problem;
  return json;
}

/** `HH:MM:SS.mmm` in UTC. */
export function clock(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 23) : "??:??:??.???";
}

/** A short, type-aware description of an event's data. */
export function summarize(event: SessionEvent): string {
  const d = (event.data ?? {}) as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === "string" ? v : undefined);
  switch (event.type) {
    case "input":
    case "steer":
      return s(d.text) !== undefined ? JSON.stringify(d.text) : compact(event.data);
    case "message.append":
      return `${d.part !== undefined && d.part !== 0 ? `part ${String(d.part)} ` : ""}${JSON.stringify(d.delta ?? "")}`;
    case "message.start": {
      const author = d.author as Record<string, unknown> | undefined;
      return [s(d.role), author ? `by ${String(author.kind)}:${String(author.id)}` : ""].filter((t) => t).join(" ");
    }
    case "message.end":
    case "turn.end":
      return [s(d.status), s(d.reason), s(d.error)].filter((t) => t).join(" ");
    case "turn.start":
      return [
        s(d.agent) && `agent ${d.agent}`,
        s(d.worker) && `worker ${d.worker}`,
        s(d.parent) && `parent ${d.parent}`,
      ]
        .filter((t) => t)
        .join(" ");
    case "turn.resumed":
      return `worker ${String(d.previousWorker)} -> ${String(d.worker)} (${String(d.reason)}, attempt ${String(d.attempt)})`;
    case "progress":
      return [s(d.step), s(d.status), s(d.label) && JSON.stringify(d.label)].filter((t) => t).join(" ");
    case "presence.join":
    case "presence.update":
    case "presence.leave": {
      const devices = Array.isArray(d.devices) ? d.devices.length : 0;
      const who = `${String(d.kind)}:${String(d.id)}`;
      return event.type === "presence.leave"
        ? `${who} left (${String(d.reason ?? "?")})`
        : `${who} ${String(d.status)} (${devices} connection${devices === 1 ? "" : "s"})`;
    }
    default:
      return compact(event.data);
  }
}

function compact(data: unknown): string {
  if (data === undefined) return "";
  try {
    return JSON.stringify(data) ?? "";
  } catch {
    return "(unprintable data)";
  }
}

function cut(text: string, width: number): string {
  const oneLine = text.replace(/[\r\n\t]+/g, " ");
  return oneLine.length > width ? `${oneLine.slice(0, width - 1)}…` : oneLine;
}
