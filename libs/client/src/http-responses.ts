import {
  ErrorCode,
  isErrorCode,
  isRetryableCode,
  isSeq,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";

/** One message of a session log read (PROTOCOL.md §21.2). */
export interface LogMessage {
  epoch: string;
  seq: number;
  event: SessionEvent;
}

/** The status a refusal has when its body names no Threadline code (Durable Streams codes, proxies). */
const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: ErrorCode.INVALID_FRAME,
  401: ErrorCode.AUTH_FAILED,
  403: ErrorCode.FORBIDDEN,
  410: ErrorCode.INSUFFICIENT_STATE,
  413: ErrorCode.EVENT_TOO_LARGE,
  429: ErrorCode.RATE_LIMITED,
};

/**
 * The typed error of a refused HTTP request (pure): the body's Threadline
 * code `{code, message, retryable}` when it has one (publish refusals, auth);
 * else by status — `410 GONE` is `INSUFFICIENT_STATE` (§21.9), 5xx and
 * anything unexpected `UNAVAILABLE` (retryable).
 * @example errorOfResponse(410, { code: "GONE", message: "read from -1" }).code // "INSUFFICIENT_STATE"
 */
export function errorOfResponse(status: number, body: unknown, session?: string): ThreadlineError {
  const wire = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const message = typeof wire.message === "string" ? wire.message : `HTTP ${status}`;
  const where = session === undefined ? {} : { session };
  if (status !== 410 && isErrorCode(wire.code)) {
    const retryable = typeof wire.retryable === "boolean" ? wire.retryable : isRetryableCode(wire.code);
    return new ThreadlineError(wire.code, message, { ...where, retryable });
  }
  const code = BY_STATUS[status];
  if (code !== undefined) {
    const detail = typeof wire.code === "string" ? `${wire.code}: ${message}` : message;
    return new ThreadlineError(code, detail, { ...where, retryable: isRetryableCode(code) });
  }
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `the gateway answered ${status}: ${message}`, {
    ...where,
    retryable: true,
  });
}

/** The JSON body of a response, or undefined when it has none or it is not JSON. */
export async function jsonBody(response: Response): Promise<unknown> {
  try {
    const text = await response.text();
    return text === "" ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The messages of a session log read (a JSON array of `{epoch, seq, event}`),
 * dropping anything of another shape (pure); undefined when `value` is not
 * an array at all.
 */
export function logMessages(value: unknown): LogMessage[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter(
    (m): m is LogMessage =>
      typeof m === "object" &&
      m !== null &&
      typeof m.epoch === "string" &&
      isSeq(m.seq) &&
      typeof m.event === "object" &&
      m.event !== null &&
      typeof m.event.type === "string",
  );
}
