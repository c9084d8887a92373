import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { DATA_DIR, DevSetupError } from "./dev-env.ts";

/**
 * The one line a local tool (terminal chat, token minting) prints for an
 * error it expects: a setup problem or a typed Threadline error, with what to
 * do about it. Anything else is a bug and keeps its stack.
 */
export function toolErrorLine(tool: string, error: unknown): string {
  if (error instanceof DevSetupError) return `${tool}: ${error.message}`;
  if (error instanceof ThreadlineError) {
    const hint =
      error.code === ErrorCode.AUTH_FAILED
        ? ` (signed with ${process.env.THREADLINE_JWT_SECRET ? "THREADLINE_JWT_SECRET" : `the secret in ${DATA_DIR}`}: are THREADLINE_DATA_DIR and THREADLINE_JWT_SECRET those of the running npm start?)`
        : "";
    return `${tool}: ${error.code}: ${error.message}${hint}`;
  }
  return `${tool}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}
