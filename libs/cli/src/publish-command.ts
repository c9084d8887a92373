import { readFileSync } from "node:fs";
import {
  clientEventLane,
  dedupeKey,
  ErrorCode,
  encodeMsgpack,
  isEventId,
  isEventType,
  isParticipantId,
  isParticipantKind,
  isTraceparent,
  Lane,
  newId,
  type ParticipantKind,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";
import { confirmDuplicateAck } from "@threadline/store";
import type { CliIO } from "./cli-io.ts";
import { CONNECTION_HELP, connectionSettings, type ParsedValues, parseCommandLine, UsageError } from "./cli-options.ts";
import { openNatsContext } from "./nats-context.ts";
import { sessionArgument } from "./session-argument.ts";

export const PUBLISH_HELP = `Usage: threadline publish <session> <type> [--text <t> | --data <json> | --data-file <file|->] [options]

Stores one event in the session directly in the stream (not through a gateway,
so no token is involved: the NATS user's permissions decide what it may write).
Prints the stored seq. Re-running with the same --id stores it once (the
stream deduplicates ids per session within its duplicate window, 2 minutes by
default); an --id already used by another event of the session (another
author, lane or type) fails with EVENT_ID_CONFLICT and stores nothing.

  <type>              event type, e.g. input, cancel, note.added
      --text <t>      data = {"text": <t>}
      --data <json>   data as JSON
      --data-file <f> data as JSON read from a file, or "-" for standard input
      --as <kind:id>  author (user, operator, agent, system); default agent:cli
      --device <d>    the author's device (users and operators)
      --turn <id>     envelope turn
      --ref <id>      envelope ref
      --id <id>       event id (default: a new one)
      --lane <lane>   in, ctl, out or sys; default: the type's client lane
                      (input -> in; cancel, steer, tool.result, approval, handoff -> ctl),
                      else sys for system authors and out for the others
      --trace <tp>    W3C traceparent carried in the envelope's trace field

${CONNECTION_HELP}

Example:
  threadline publish support-42 input --text "where is my order?" --as user:alice`;

/** `threadline publish`. */
export async function publishCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    text: { type: "string" },
    data: { type: "string" },
    "data-file": { type: "string" },
    as: { type: "string" },
    device: { type: "string" },
    turn: { type: "string" },
    ref: { type: "string" },
    id: { type: "string" },
    lane: { type: "string" },
    trace: { type: "string" },
  });
  if (values.help) {
    io.out(PUBLISH_HELP);
    return 0;
  }
  const session = sessionArgument(positionals, 1);
  const type = positionals[1];
  if (type === undefined) throw new UsageError("missing <type>");
  const settings = connectionSettings(values, io.env);
  const { envelope, lane } = buildEvent(session, type, values);

  await using ctx = await openNatsContext(settings);
  const subject = ctx.info.subjects.event(session, lane, envelope.from.kind, envelope.from.id);
  let ack: { seq: number; duplicate: boolean };
  try {
    ack = await ctx.js.publish(subject, encodeMsgpack(envelope), {
      msgID: dedupeKey(session, envelope.id),
      expect: { streamName: ctx.info.stream },
    });
  } catch (error) {
    throw new ThreadlineError(
      ErrorCode.PUBLISH_FAILED,
      `event ${envelope.id} was not stored: ${(error as Error).message}`,
      {
        session,
        cause: error,
      },
    );
  }
  if (ack.duplicate) {
    await confirmDuplicateAck(
      async (seq) => (await ctx.jsm.streams.getMessage(ctx.info.stream, { seq })) ?? undefined,
      session,
      { subject, id: envelope.id, type: envelope.type },
      ack.seq,
    );
  }
  const result = { session, id: envelope.id, seq: ack.seq, epoch: ctx.info.epoch, duplicate: ack.duplicate, subject };
  io.out(
    values.json
      ? JSON.stringify(result)
      : `stored ${envelope.type} ${envelope.id} at seq ${ack.seq}${ack.duplicate ? " (duplicate: already stored)" : ""} on ${subject}`,
  );
  return 0;
}

/** The envelope and lane `publish` stores, from its flags. Throws UsageError / ThreadlineError(INVALID_FRAME). */
export function buildEvent(
  session: string,
  type: string,
  values: ParsedValues,
): { envelope: SessionEvent; lane: Lane } {
  const invalid = (message: string) => new ThreadlineError(ErrorCode.INVALID_FRAME, message, { session });
  if (!isEventType(type)) throw invalid(`invalid event type ${JSON.stringify(type)} (lowercase dotted words, ≤ 64)`);
  const as = (values.as as string | undefined) ?? "agent:cli";
  const kind = as.slice(0, Math.max(0, as.indexOf(":")));
  const id = as.slice(as.indexOf(":") + 1);
  if (!isParticipantKind(kind) || !isParticipantId(id)) {
    throw new UsageError(
      `--as must be <kind>:<id> with kind user, operator, agent or system; got ${String(values.as)}`,
    );
  }
  const envelope: SessionEvent = { id: newId(), type, from: { kind: kind as ParticipantKind, id }, ts: Date.now() };
  for (const key of ["id", "turn", "ref"] as const) {
    const value = values[key];
    if (value === undefined) continue;
    if (!isEventId(value)) throw invalid(`invalid --${key} ${JSON.stringify(value)} (1-64 printable ASCII)`);
    envelope[key] = value;
  }
  if (values.device !== undefined) {
    if (kind !== "user" && kind !== "operator") throw new UsageError("--device is for user and operator authors");
    if (!isParticipantId(values.device)) throw invalid(`invalid --device ${JSON.stringify(values.device)}`);
    envelope.from.device = values.device as string;
  }
  if (values.trace !== undefined) {
    if (!isTraceparent(values.trace))
      throw invalid(`invalid --trace ${JSON.stringify(values.trace)} (W3C traceparent)`);
    envelope.trace = values.trace as string;
  }
  const data = eventData(values, invalid);
  if (data !== undefined) envelope.data = data;
  const lanes: readonly string[] = Object.values(Lane);
  const laneFlag = values.lane as string | undefined;
  if (laneFlag !== undefined && !lanes.includes(laneFlag)) {
    throw new UsageError(`--lane must be one of ${lanes.join(", ")}; got ${JSON.stringify(laneFlag)}`);
  }
  const lane = (laneFlag as Lane | undefined) ?? clientEventLane(type) ?? (kind === "system" ? Lane.SYS : Lane.OUT);
  return { envelope, lane };
}

function eventData(values: ParsedValues, invalid: (message: string) => ThreadlineError): unknown {
  const given = ["text", "data", "data-file"].filter((k) => values[k] !== undefined);
  if (given.length > 1) throw new UsageError(`use only one of --text, --data, --data-file (got ${given.join(", ")})`);
  if (values.text !== undefined) return { text: values.text };
  let json: string | undefined;
  let source = "--data";
  if (values.data !== undefined) json = values.data as string;
  if (values["data-file"] !== undefined) {
    const file = values["data-file"] as string;
    source = file === "-" ? "standard input" : file;
    try {
      json = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (error) {
      throw new UsageError(`cannot read ${source}: ${(error as Error).message}`);
    }
  }
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json);
  } catch (error) {
    throw invalid(`${source} is not valid JSON: ${(error as Error).message}`);
  }
}
