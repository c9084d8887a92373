import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { isSessionId, ThreadlineError } from "@threadline/protocol";
import { isClosedError } from "@threadline/store";
import { type Authenticator, can } from "./auth.ts";
import { corsHeaders } from "./cors.ts";
import type { Logger } from "./logger.ts";

/**
 * A `GET /v1/sessions/:id/<what>` handler with `Authorization: Bearer <token>`,
 * authorized like attach (read on the session). 200 `{session, ...read(session)}`;
 * errors are `{code, message, retryable}` with 400 (`INVALID_SESSION`),
 * 401 (`AUTH_FAILED` / `TOKEN_EXPIRED`), 403 (`FORBIDDEN`) and 503 (`UNAVAILABLE`).
 * Every answer, errors included, carries the CORS headers for the request's
 * `Origin` (cors.ts), so a page of an allowed origin can read it.
 */
export function sessionReadRoute(
  auth: Authenticator,
  log: Logger,
  what: string,
  read: (session: string) => Promise<Record<string, unknown>>,
  allowedOrigins: readonly string[] | undefined,
) {
  return (res: HttpResponse, req: HttpRequest): void => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const session = req.getParameter(0) ?? "";
    const authorization = req.getHeader("authorization");
    const cors = corsHeaders(req.getHeader("origin"), allowedOrigins);
    const reply = (status: string, body: unknown): void => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(status);
        for (const [name, value] of cors) res.writeHeader(name, value);
        res.writeHeader("content-type", "application/json").end(JSON.stringify(body));
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
        reply("200 OK", { session, ...(await read(session)) });
      } catch (error) {
        if (error instanceof ThreadlineError && (error.code === "AUTH_FAILED" || error.code === "TOKEN_EXPIRED")) {
          reply("401 Unauthorized", error.toWire());
          return;
        }
        // A read cut short by the gateway's own shutdown (its NATS connection draining) is expected, not a fault.
        if (isClosedError(error) || (error instanceof ThreadlineError && error.code === "CLOSED"))
          log.info({ session }, `${what} request ended by the gateway's shutdown`);
        else log.warn({ err: error, session }, `${what} request failed`);
        reply("503 Service Unavailable", {
          code: "UNAVAILABLE",
          message: `${what} unavailable; retry`,
          retryable: true,
        });
      }
    })();
  };
}
