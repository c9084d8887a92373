/**
 * Errors the test kit throws. `code` is stable so a test can assert on it;
 * start failures carry the server's captured log in `log` (and its tail in
 * the message, so it shows up in the test runner's failure output).
 */
export const TestKitErrorCode = {
  /** No `nats-server` binary was found (see `findNatsServer`). */
  NO_BINARY: "NO_BINARY",
  /** The server exited, or never became healthy, while starting. */
  START_FAILED: "START_FAILED",
  /** The operation needs a server process this kit owns (an external `NATS_URL` server has none). */
  NOT_SUPPORTED: "NOT_SUPPORTED",
  /** The handle was stopped for good; it cannot be restarted. */
  STOPPED: "STOPPED",
  /** A wait did not finish in time. */
  TIMEOUT: "TIMEOUT",
} as const;
export type TestKitErrorCode = (typeof TestKitErrorCode)[keyof typeof TestKitErrorCode];

export class TestKitError extends Error {
  override readonly name = "TestKitError";
  readonly code: TestKitErrorCode;
  /** The captured server log, when the error is about a server process. */
  readonly log: string | undefined;

  constructor(code: TestKitErrorCode, message: string, options?: ErrorOptions & { log?: string }) {
    super(message, options);
    this.code = code;
    this.log = options?.log;
  }
}
