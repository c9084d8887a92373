/**
 * WebSocket close codes used by the gateway. The 4000–4499 range is
 * retryable (reconnect with backoff and resume), 4500–4999 is terminal (do
 * not reconnect with the same credentials). Standard codes are listed with
 * the behaviour a client must apply to them.
 */
export const CloseCode = {
  /** Normal closure requested by the client or server. Terminal. */
  NORMAL: 1000,
  /** The gateway is shutting down or draining; reconnect (possibly to another replica). Retryable. */
  GOING_AWAY: 1001,
  /** Abnormal closure (no close frame; network loss). Retryable. Never sent on the wire. */
  ABNORMAL: 1006,
  /** A frame exceeded the hard payload limit (`limits.maxPayloadBytes`). Terminal. */
  MESSAGE_TOO_BIG: 1009,
  /** Unexpected server error. Retryable. */
  INTERNAL_ERROR: 1011,
  /** Generic "reconnect and resume". Retryable. */
  RECONNECT: 4000,
  /** The socket could not keep up with its sessions. Retryable; resume from the last seq. */
  SLOW_CONSUMER: 4001,
  /** The gateway lost NATS for longer than it is willing to hold sockets. Retryable. */
  UNAVAILABLE: 4002,
  /** The socket kept flooding after `RATE_LIMITED` errors. Retryable after at least 5 s. */
  FLOOD: 4003,
  /** The socket sent no frame (not even a WebSocket ping/pong) within the idle timeout. Retryable. */
  IDLE_TIMEOUT: 4004,
  /** The user has too many sockets open on this gateway (`maxSocketsPerUser`). Retryable after at least 5 s. */
  TOO_MANY_CONNECTIONS: 4005,
  /** The token is missing, invalid or forbidden. Terminal. */
  AUTH_FAILED: 4500,
  /** The token expired and was not refreshed. Terminal until the client obtains a new token. */
  TOKEN_EXPIRED: 4501,
  /** No `hello` arrived within `limits.authTimeoutMs`. Terminal. */
  AUTH_TIMEOUT: 4502,
  /** The client repeatedly violated the protocol (e.g. `limits.maxProtocolErrors` bad frames). Terminal. */
  PROTOCOL_ERROR: 4503,
  /** The browser `Origin` is not allowed. Terminal. */
  FORBIDDEN_ORIGIN: 4504,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Whether a client should reconnect after the socket closed with `code`. */
export function isRetryableClose(code: number): boolean {
  if (code >= 4000 && code <= 4499) return true;
  if (code >= 4500 && code <= 4999) return false;
  // Standard codes: only an explicit normal closure, a policy/size violation or an
  // unsupported-data close is final; everything else (1001, 1005, 1006, 1011, 1012, 1013, 1014) is a network or server condition.
  return !(
    code === 1000 ||
    code === 1002 ||
    code === 1003 ||
    code === 1007 ||
    code === 1008 ||
    code === 1009 ||
    code === 1010
  );
}
