import { CloseCode, ErrorCode, isRetryableClose, ThreadlineError } from "@threadline/protocol";

const CLOSE_ERRORS: Readonly<Partial<Record<number, ErrorCode>>> = {
  [CloseCode.MESSAGE_TOO_BIG]: ErrorCode.FRAME_TOO_LARGE,
  [CloseCode.SLOW_CONSUMER]: ErrorCode.SLOW_CONSUMER,
  [CloseCode.UNAVAILABLE]: ErrorCode.UNAVAILABLE,
  [CloseCode.FLOOD]: ErrorCode.RATE_LIMITED,
  [CloseCode.TOO_MANY_CONNECTIONS]: ErrorCode.TOO_MANY_CONNECTIONS,
  [CloseCode.AUTH_FAILED]: ErrorCode.AUTH_FAILED,
  [CloseCode.TOKEN_EXPIRED]: ErrorCode.TOKEN_EXPIRED,
  [CloseCode.AUTH_TIMEOUT]: ErrorCode.AUTH_FAILED,
  [CloseCode.PROTOCOL_ERROR]: ErrorCode.INVALID_FRAME,
  [CloseCode.FORBIDDEN_ORIGIN]: ErrorCode.FORBIDDEN,
};

/**
 * The error reported for a socket close that no `error` frame explained:
 * the matching error code for the protocol's close codes (PROTOCOL.md §12),
 * `CLOSED` otherwise; retryable exactly when the close is.
 */
export function errorForClose(code: number, reason: string): ThreadlineError {
  return new ThreadlineError(
    CLOSE_ERRORS[code] ?? ErrorCode.CLOSED,
    `socket closed: ${code}${reason ? ` ${reason}` : ""}`,
    {
      retryable: isRetryableClose(code),
    },
  );
}
