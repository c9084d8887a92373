import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { isClosedError } from "@threadline/store";
import type { Authenticator, Principal } from "./auth.ts";
import { corsHeaders } from "./cors.ts";
import type { Logger } from "./logger.ts";

/** What a JSON route handler answers: a status, a JSON body (none for 204) and extra headers. */
export interface JsonAnswer {
  status: number;
  body?: unknown;
  headers?: readonly (readonly [string, string])[];
}

/** The parts of a request a handler may use (uWS's request object dies at the first `await`, so they are copied). */
export interface JsonRequest {
  /** The route's `:parameters`, in order. */
  params: readonly string[];
  authorization: string;
  userAgent: string;
  /** The parsed JSON body; undefined for routes without one. */
  body: unknown;
}

export interface JsonRouteOptions {
  allowedOrigins: readonly string[] | undefined;
  log: Logger;
  /** What the route serves, for log lines. */
  what: string;
  /** How many `:parameters` the route pattern has. */
  params?: number;
  /**
   * Read a JSON body of at most `maxBytes` (larger: 413 `PAYLOAD_TOO_LARGE`, from `Content-Length` before
   * reading when it is sent); a body that is not JSON is refused with `invalid`.
   */
  body?: { maxBytes: number; invalid: ErrorCode };
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const ERROR_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  INVALID_SESSION: 400,
  INVALID_POSITION: 400,
  INVALID_FRAME: 400,
  INVALID_SUBSCRIPTION: 400,
  INVALID_PREFERENCES: 400,
  AUTH_FAILED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  PUSH_HOST_NOT_ALLOWED: 403,
  PUSH_DISABLED: 404,
  PREFERENCES_CONFLICT: 409,
  NOT_ATTACHED: 409,
  PAYLOAD_TOO_LARGE: 413,
  EVENT_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  CLOSED: 503,
};

/** The HTTP status of an error code on the HTTP API (pure): 500 for codes the API does not answer with. */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_STATUS[code] ?? 500;
}

/** The answer for an error: its status and `{code, message, retryable}`, plus `headers` (e.g. `retry-after`). */
export function errorAnswer(error: ThreadlineError, headers: readonly (readonly [string, string])[] = []): JsonAnswer {
  return { status: httpStatusOf(error.code), body: error.toWire(), headers };
}

/**
 * An error answered with `retry-after` (whole seconds, at least 1): throw it
 * from a handler for a 429 or a 503 that knows when to come back.
 */
export class RetryAfterError extends Error {
  override readonly name = "RetryAfterError";
  constructor(
    readonly error: ThreadlineError,
    readonly waitMs: number,
  ) {
    super(error.message, { cause: error });
  }

  answer(): JsonAnswer {
    return errorAnswer(this.error, [["retry-after", String(Math.max(1, Math.ceil(this.waitMs / 1000)))]]);
  }
}

/**
 * The principal of `Authorization: Bearer <token>`; `AUTH_FAILED` when the
 * header is missing or not a bearer token, else whatever `auth.verify` throws
 * (`AUTH_FAILED`, `TOKEN_EXPIRED`, `UNAVAILABLE` when the JWKS is unreachable).
 */
export async function bearerPrincipal(auth: Authenticator, authorization: string): Promise<Principal> {
  if (!authorization.toLowerCase().startsWith("bearer ")) {
    throw new ThreadlineError(ErrorCode.AUTH_FAILED, "Authorization: Bearer <token> required");
  }
  return auth.verify(authorization.slice(7).trim());
}

/**
 * A uWS handler for one JSON route of the HTTP API. It copies what the
 * handler needs from the request, reads a bounded JSON body when the route
 * takes one, runs `handle`, and writes its answer with the CORS headers for
 * the request's `Origin` (cors.ts) — errors included, so a page of an allowed
 * origin can read why it was refused. A `ThreadlineError` thrown by `handle`
 * becomes `{code, message, retryable}` with {@link httpStatusOf} (a
 * {@link RetryAfterError} adds its `retry-after`); anything
 * else is logged and answered 500 `INTERNAL`. Nothing is written after the
 * client went away.
 */
export function jsonRoute(options: JsonRouteOptions, handle: (request: JsonRequest) => Promise<JsonAnswer>) {
  const { allowedOrigins, log, what } = options;
  return (res: HttpResponse, req: HttpRequest): void => {
    let done = false;
    res.onAborted(() => {
      done = true;
    });
    const params = Array.from({ length: options.params ?? 0 }, (_, i) => req.getParameter(i) ?? "");
    const authorization = req.getHeader("authorization");
    const userAgent = req.getHeader("user-agent");
    const cors = corsHeaders(req.getHeader("origin"), allowedOrigins);
    const reply = (answer: JsonAnswer): void => {
      if (done) return;
      done = true;
      res.cork(() => {
        res.writeStatus(`${answer.status} ${STATUS_TEXT[answer.status] ?? ""}`.trim());
        for (const [name, value] of cors) res.writeHeader(name, value);
        const extra = answer.headers ?? [];
        for (const [name, value] of extra) res.writeHeader(name, value);
        // A page reads only safelisted response headers unless told (e.g. `retry-after` of a 429).
        if (extra.length > 0 && cors.length > 1) {
          res.writeHeader("access-control-expose-headers", extra.map(([name]) => name).join(", "));
        }
        if (answer.body === undefined) res.end();
        else res.writeHeader("content-type", "application/json").end(JSON.stringify(answer.body));
      });
    };
    const run = (body: unknown): void => {
      handle({ params, authorization, userAgent, body }).then(reply, (error: unknown) => {
        if (error instanceof RetryAfterError) {
          reply(error.answer());
          return;
        }
        if (error instanceof ThreadlineError && error.code !== ErrorCode.INTERNAL) {
          if (error.code === ErrorCode.UNAVAILABLE) log.warn({ err: error }, `${what} request failed`);
          reply(errorAnswer(error));
          return;
        }
        // A request cut short by the gateway's own shutdown (its NATS connection draining) is expected, not a fault.
        if (isClosedError(error)) {
          log.info(`${what} request ended by the gateway's shutdown`);
          reply(errorAnswer(new ThreadlineError(ErrorCode.CLOSED, `${what} unavailable; retry`)));
          return;
        }
        log.error({ err: error }, `${what} request failed unexpectedly`);
        reply(errorAnswer(new ThreadlineError(ErrorCode.INTERNAL, `${what} failed; retry`)));
      });
    };
    const limits = options.body;
    if (!limits) {
      run(undefined);
      return;
    }
    const tooLarge = () =>
      reply(
        errorAnswer(
          new ThreadlineError(ErrorCode.PAYLOAD_TOO_LARGE, `request body over ${limits.maxBytes} bytes`, {
            retryable: false,
          }),
        ),
      );
    if (Number(req.getHeader("content-length") || 0) > limits.maxBytes) {
      tooLarge();
      return;
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limits.maxBytes) {
        tooLarge();
        return;
      }
      chunks.push(new Uint8Array(chunk.slice(0))); // uWS reuses the chunk's memory after this callback
      if (!isLast) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        reply(errorAnswer(new ThreadlineError(limits.invalid, "the request body is not JSON")));
        return;
      }
      run(body);
    });
  };
}
