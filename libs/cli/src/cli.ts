import { ThreadlineError } from "@threadline/protocol";
import type { CliIO } from "./cli-io.ts";
import { UsageError } from "./cli-options.ts";
import { inspectCommand } from "./inspect-command.ts";
import { publishCommand } from "./publish-command.ts";
import { sessionsCommand } from "./sessions-command.ts";
import { tailCommand } from "./tail-command.ts";

export const USAGE = `Usage: threadline <command> [options]

Commands:
  tail <session> [--from <seq>]    live, readable timeline of a session
  inspect <session>                participants, presence, turns, messages, device cursors, anomalies
  sessions                         active sessions (present participants or recent events)
  publish <session> <type> ...     store one event (scripting)

Every command talks to NATS directly (--server, --user/--password, --token,
--creds; or NATS_URL, NATS_USER, NATS_PASS, NATS_TOKEN, NATS_CREDS) and takes
--json for machine-readable output. "threadline <command> --help" for details.

Exit codes: 0 ok, 1 error (typed code printed), 2 usage error.`;

const COMMANDS: Record<string, (argv: readonly string[], io: CliIO) => Promise<number>> = {
  tail: tailCommand,
  inspect: inspectCommand,
  sessions: sessionsCommand,
  publish: publishCommand,
};

/**
 * Runs one command line (without the program name) and resolves with the exit code.
 * Errors are printed, not thrown: `threadline: <CODE>: <message>` (exit 1), usage errors with a hint (exit 2).
 * @example
 *   process.exitCode = await runCli(process.argv.slice(2), io);
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`threadline: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`threadline ${name}: ${error.message}\nRun "threadline ${name} --help" for usage.`);
      return 2;
    }
    if (error instanceof ThreadlineError) {
      io.err(`threadline ${name}: ${error.code}: ${error.message}`);
      return 1;
    }
    io.err(`threadline ${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}
