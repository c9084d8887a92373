import type { HttpRequest, HttpResponse } from "uWebSockets.js";

/** How long a browser may cache a preflight answer (Chromium caps it at 2 h; short so config changes apply soon). */
export const CORS_MAX_AGE_SECONDS = 600;
/** Methods and request headers the HTTP API accepts cross-origin: reads with a bearer token. */
export const CORS_ALLOW_METHODS = "GET, OPTIONS";
export const CORS_ALLOW_HEADERS = "Authorization, Content-Type";

/**
 * Whether a browser `Origin` may use the gateway (WebSocket and HTTP API).
 * `allowed` undefined means any origin (`THREADLINE_ALLOWED_ORIGINS` unset or
 * `*`); entries are exact `scheme://host[:port]`, compared without a trailing
 * slash. An empty origin (non-browser client) is not an origin at all: callers
 * decide what that means.
 */
export function isAllowedOrigin(origin: string, allowed: readonly string[] | undefined): boolean {
  if (origin === "") return false;
  return allowed === undefined || allowed.includes(origin.replace(/\/+$/, ""));
}

/**
 * CORS headers for an actual (non-preflight) response of the HTTP API:
 * always `Vary: Origin` (the answer depends on it, so caches must key on it),
 * plus `Access-Control-Allow-Origin: <origin>` when the origin is allowed.
 * A disallowed origin gets no allow header: the browser hides the response
 * from the page. Credentials (cookies) are never allowed: tokens travel in
 * `Authorization`.
 */
export function corsHeaders(origin: string, allowed: readonly string[] | undefined): [string, string][] {
  const headers: [string, string][] = [["vary", "Origin"]];
  if (isAllowedOrigin(origin, allowed)) headers.push(["access-control-allow-origin", origin]);
  return headers;
}

/**
 * `OPTIONS` handler for the HTTP API's routes (PROTOCOL.md §5.1). A preflight
 * from an allowed origin gets 204 with the allowed methods (`methods`, default
 * the read-only API's) and headers and a max-age; one from any other origin
 * gets 403 without CORS headers (the browser then refuses the actual request).
 * An `OPTIONS` without `Origin` is not a preflight and gets 204 with `Allow`.
 */
export function corsPreflight(allowed: readonly string[] | undefined, methods = CORS_ALLOW_METHODS) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const origin = req.getHeader("origin");
    if (origin === "") {
      res.writeStatus("204 No Content").writeHeader("allow", methods).end();
      return;
    }
    if (!isAllowedOrigin(origin, allowed)) {
      res
        .writeStatus("403 Forbidden")
        .writeHeader("vary", "Origin")
        .writeHeader("content-type", "application/json")
        .end(JSON.stringify({ code: "FORBIDDEN", message: "origin not allowed", retryable: false }));
      return;
    }
    res
      .writeStatus("204 No Content")
      .writeHeader("vary", "Origin")
      .writeHeader("access-control-allow-origin", origin)
      .writeHeader("access-control-allow-methods", methods)
      .writeHeader("access-control-allow-headers", CORS_ALLOW_HEADERS)
      .writeHeader("access-control-max-age", String(CORS_MAX_AGE_SECONDS))
      .end();
  };
}
