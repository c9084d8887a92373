import type { Authenticator } from "./auth.ts";
import type { Logger } from "./logger.ts";
import type { PresenceWriter } from "./presence-writer.ts";
import { sessionReadRoute } from "./session-read-route.ts";

/**
 * `GET /v1/sessions/:id/presence` with `Authorization: Bearer <token>`,
 * authorized like attach (read on the session). 200 `{session, members}`;
 * errors are `{code, message, retryable}` with 400/401/403/503.
 */
export function presenceRoute(
  auth: Authenticator,
  presence: PresenceWriter,
  log: Logger,
  allowedOrigins: readonly string[] | undefined,
) {
  return sessionReadRoute(
    auth,
    log,
    "presence",
    async (session) => ({ members: await presence.members(session) }),
    allowedOrigins,
  );
}
