import { checkSessionId } from "@threadline/protocol";
import { UsageError } from "./cli-options.ts";

/** The `<session>` positional of a command: exactly one, a valid session id. */
export function sessionArgument(positionals: readonly string[], extra = 0): string {
  const session = positionals[0];
  if (session === undefined) throw new UsageError("missing <session>");
  if (positionals.length > 1 + extra) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1 + extra])}`);
  }
  checkSessionId(session);
  return session;
}
