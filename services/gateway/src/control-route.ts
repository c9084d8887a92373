import type { ControlState } from "@threadline/store";
import type { Authenticator } from "./auth.ts";
import type { Logger } from "./logger.ts";
import { sessionReadRoute } from "./session-read-route.ts";

/**
 * `GET /v1/sessions/:id/control` with `Authorization: Bearer <token>`,
 * authorized like attach (read on the session): the session's owner entry
 * from the control bucket (PROTOCOL.md §17.7). 200 `{session, owner}` where
 * `owner` is the `<session>.owner` value `{owner, by, since, reason?}`, or
 * null when the key is missing or invalid (the agents own the session);
 * errors are `{code, message, retryable}` with 400/401/403/503.
 */
export function controlRoute(
  auth: Authenticator,
  control: ControlState,
  log: Logger,
  allowedOrigins: readonly string[] | undefined,
) {
  return sessionReadRoute(
    auth,
    log,
    "control",
    async (session) => ({ owner: (await control.getOwner(session))?.value ?? null }),
    allowedOrigins,
  );
}
