import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { isSessionId, ThreadlineError } from "@threadline/protocol";
import { type Authenticator, can } from "./auth.ts";
import type { Logger } from "./logger.ts";
import type { PresenceWriter } from "./presence-writer.ts";

/**
 * `GET /v1/sessions/:id/presence` with `Authorization: Bearer <token>`,
 * authorized like attach (read on the session). 200 `{session, members}`;
 * errors are `{code, message, retryable}` with 400/401/403/503.
 */
export function presenceRoute(auth: Authenticator, presence: PresenceWriter, log: Logger) {
  return (res: HttpResponse, req: HttpRequest): void => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const session = req.getParameter(0) ?? "";
    const authorization = req.getHeader("authorization");
    const reply = (status: string, body: unknown): void => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(body));
      });
    };
    void (async () => {
      if (!isSessionId(session)) {
        reply("400 Bad Request", { code: "INVALID_SESSION", message: "invalid session id", retryable: false });
        return;
      }
      if (!authorization.toLowerCase().startsWith("bearer ")) {
        reply("401 Unauthorized", {
          code: "AUTH_FAILED",
          message: "Authorization: Bearer <token> required",
          retryable: false,
        });
        return;
      }
      try {
        const principal = await auth.verify(authorization.slice(7).trim());
        if (!can(principal, session, "read")) {
          reply("403 Forbidden", {
            code: "FORBIDDEN",
            message: `not allowed to read session ${session}`,
            retryable: false,
          });
          return;
        }
        reply("200 OK", { session, members: await presence.members(session) });
      } catch (error) {
        if (error instanceof ThreadlineError && (error.code === "AUTH_FAILED" || error.code === "TOKEN_EXPIRED")) {
          reply("401 Unauthorized", error.toWire());
          return;
        }
        log.warn({ err: error, session }, "presence request failed");
        reply("503 Service Unavailable", {
          code: "UNAVAILABLE",
          message: "presence unavailable; retry",
          retryable: true,
        });
      }
    })();
  };
}
