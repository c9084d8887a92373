import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import type { CliIO } from "./cli-io.ts";
import { CONNECTION_HELP, connectionSettings, integerFlag, parseCommandLine, UsageError } from "./cli-options.ts";
import { openNatsContext } from "./nats-context.ts";
import { sessionArgument } from "./session-argument.ts";
import { readStored, type TimelineRecord } from "./stream-reader.ts";
import { formatRecord, recordJson } from "./timeline-format.ts";

export const TAIL_HELP = `Usage: threadline tail <session> [--from <seq>|start|now] [-n <count>] [--once] [-t <type>]

Prints the session's timeline (seq, time, author, type, short data) and follows
new events as they are stored, until interrupted (Ctrl-C). Reads the stream
with an ordered consumer: nothing is skipped or repeated, across NATS reconnects.

  --from <seq>       events after <seq> (0 = the whole history); "start" = 0, "now" = only new events
  -n, --lines <n>    without --from: begin with the last <n> stored events (default 10)
      --once         exit once the stored events are printed (do not follow)
  -t, --type <type>  only this type and its dotted subtypes (--type message: message.*);
                     repeat for several; -n then counts matching events

${CONNECTION_HELP}`;

const DEFAULT_LINES = 10;

/** `threadline tail`. */
export async function tailCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    from: { type: "string" },
    lines: { type: "string", short: "n" },
    once: { type: "boolean" },
    type: { type: "string", short: "t", multiple: true },
  });
  if (values.help) {
    io.out(TAIL_HELP);
    return 0;
  }
  const session = sessionArgument(positionals);
  const settings = connectionSettings(values, io.env);
  const from = values.from as string | undefined;
  if (from !== undefined && values.lines !== undefined) throw new UsageError("--lines cannot be combined with --from");
  if (from !== undefined && !/^(\d+|start|now)$/.test(from)) {
    throw new UsageError(`--from must be a seq, "start" or "now", got ${JSON.stringify(from)}`);
  }
  const lines = integerFlag(values, "lines", DEFAULT_LINES);
  const follow = values.once !== true;
  const json = values.json === true;
  const types = (values.type as string[] | undefined) ?? [];
  // `--type message` matches `message` and `message.*`; invalid payloads only show without a filter.
  const shown = (record: TimelineRecord) =>
    types.length === 0 ||
    (record.event !== undefined &&
      types.some((t) => record.event?.type === t || record.event?.type.startsWith(`${t}.`)));

  await using ctx = await openNatsContext(settings, follow);
  const lastSeq = (await ctx.jsm.streams.info(ctx.info.stream)).state.last_seq;
  let startSeq = 1;
  if (from === "now") startSeq = lastSeq + 1;
  else if (from !== undefined && from !== "start") {
    const after = Number(from);
    if (!Number.isSafeInteger(after) || after > lastSeq) {
      throw new ThreadlineError(
        ErrorCode.INVALID_POSITION,
        `--from ${from} is beyond the stream's last seq ${lastSeq}`,
        {
          session,
        },
      );
    }
    startSeq = after + 1;
  }

  const print = (record: TimelineRecord) => io.out(json ? JSON.stringify(recordJson(record)) : formatRecord(record));
  // Without --from, the stored history is read into a window of the last `lines` records, printed once caught up.
  let window: TimelineRecord[] | undefined = from === undefined ? [] : undefined;
  let lastPrinted = startSeq - 1;
  const onCaughtUp = () => {
    if (window) {
      for (const record of window.slice(Math.max(0, window.length - lines))) print(record);
      window = undefined;
    }
    if (!json && follow) io.err(`-- caught up (stream seq ${lastSeq}); following ${session}, Ctrl-C to stop --`);
  };
  for await (const record of readStored(ctx.js, ctx.jsm, ctx.info.stream, ctx.info.subjects, {
    filter: ctx.info.subjects.session(session),
    startSeq,
    follow,
    onCaughtUp,
    signal: io.signal,
  })) {
    lastPrinted = record.seq;
    if (!shown(record)) continue;
    if (window) {
      window.push(record);
      if (window.length > 2 * lines + 64) window = window.slice(window.length - lines);
    } else {
      print(record);
    }
  }
  if (!json && !follow && lastPrinted < startSeq) io.err(`-- no events in ${session} after seq ${startSeq - 1} --`);
  return 0;
}
