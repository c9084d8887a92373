/**
 * Refusals of the Durable Streams HTTP API (PROTOCOL.md §21), each with the
 * HTTP status the protocol prescribes. The `code` is stable (clients branch on
 * it); the body of an error response is `{code, message, retryable}` like the
 * rest of the gateway's HTTP API.
 */
export const DurableStreamErrorCode = {
  /** Malformed request: header syntax, offset, parameters, empty body, invalid JSON (400). */
  BAD_REQUEST: "BAD_REQUEST",
  /** No `Authorization: Bearer <token>`, or a token that does not verify (401). */
  AUTH_FAILED: "AUTH_FAILED",
  /** The token has expired (401). */
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  /** The token does not grant the operation on the stream (403). */
  FORBIDDEN: "FORBIDDEN",
  /** An idempotent producer's epoch is older than the stream's (403, `Producer-Epoch` = current). */
  STALE_PRODUCER_EPOCH: "STALE_PRODUCER_EPOCH",
  /** The stream (or a fork's source) does not exist or has expired (404). */
  NOT_FOUND: "NOT_FOUND",
  /** The method is not supported on this stream, e.g. DELETE of a session log (405). */
  METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED",
  /** Exists with another configuration, content type mismatch, `Stream-Seq` regression, closed stream (409). */
  CONFLICT: "CONFLICT",
  /** An idempotent producer skipped sequence numbers (409 with expected/received headers). */
  PRODUCER_SEQUENCE_GAP: "PRODUCER_SEQUENCE_GAP",
  /** The offset is before retention or from a recreated NATS stream (other epoch), or the stream was deleted while forks still read it (410). */
  GONE: "GONE",
  /** The request body exceeds the gateway's limit (413). */
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  /** Too many requests, or too many open SSE streams / long-polls for this user (429). */
  RATE_LIMITED: "RATE_LIMITED",
  /** NATS is unavailable; retry (503). */
  UNAVAILABLE: "UNAVAILABLE",
} as const;
export type DurableStreamErrorCode = (typeof DurableStreamErrorCode)[keyof typeof DurableStreamErrorCode];

/** The HTTP status line of each code. */
export const DURABLE_STREAM_STATUS: Readonly<Record<DurableStreamErrorCode, string>> = {
  BAD_REQUEST: "400 Bad Request",
  AUTH_FAILED: "401 Unauthorized",
  TOKEN_EXPIRED: "401 Unauthorized",
  FORBIDDEN: "403 Forbidden",
  STALE_PRODUCER_EPOCH: "403 Forbidden",
  NOT_FOUND: "404 Not Found",
  METHOD_NOT_ALLOWED: "405 Method Not Allowed",
  CONFLICT: "409 Conflict",
  PRODUCER_SEQUENCE_GAP: "409 Conflict",
  GONE: "410 Gone",
  PAYLOAD_TOO_LARGE: "413 Payload Too Large",
  RATE_LIMITED: "429 Too Many Requests",
  UNAVAILABLE: "503 Service Unavailable",
};

const RETRYABLE: ReadonlySet<DurableStreamErrorCode> = new Set(["RATE_LIMITED", "UNAVAILABLE"]);

/**
 * A refused Durable Streams request. `headers` are protocol headers the
 * refusal carries (e.g. `Producer-Epoch` on a stale epoch, `Stream-Closed`
 * on an append to a closed stream).
 *
 * @example
 * throw new DurableStreamError("NOT_FOUND", "stream chat-1 does not exist");
 */
export class DurableStreamError extends Error {
  override readonly name = "DurableStreamError";
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly code: DurableStreamErrorCode,
    message: string,
    options: ErrorOptions & { headers?: Record<string, string> } = {},
  ) {
    super(message, options);
    this.headers = options.headers ?? {};
  }

  get status(): string {
    return DURABLE_STREAM_STATUS[this.code];
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  toBody(): { code: string; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}
