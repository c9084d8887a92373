import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";

/**
 * How the NATS side's failures become typed errors. Everything in
 * `@threadline/store` (and the SDK and services on top of it) throws only
 * `ThreadlineError`s with the protocol's codes for runtime conditions:
 * `UNAVAILABLE` (retryable) when NATS or the stream is away, `CLOSED` when the
 * connection was closed by its owner, `INTERNAL` (not retryable) otherwise.
 */

/** JetStream API error codes Threadline reacts to (nats-server `errors.json`). */
export const JsErrCode = {
  /** "no suitable peers for placement": a replicated stream cannot be placed yet (peers offline or not current). */
  NO_SUITABLE_PEERS: 10005,
  /** "JetStream system temporarily unavailable" (503), e.g. while the meta group elects a leader. */
  CLUSTER_NOT_AVAILABLE: 10008,
  STREAM_NAME_IN_USE: 10058,
  STREAM_NOT_FOUND: 10059,
  STREAM_EXPECTED_MISMATCH: 10060,
  STREAM_SUBJECT_OVERLAP: 10065,
  STREAM_UPDATE_REPUBLISH: 10052,
  MESSAGE_TOO_LARGE: 10054,
  CONSUMER_NOT_FOUND: 10014,
  /** "wrong last sequence": a KV create or compare-and-set lost against another writer. */
  WRONG_LAST_SEQUENCE: 10071,
  /**
   * "duplicate message id is in process" (409): a clustered stream's leader holds a publish with the same
   * `Nats-Msg-Id` that it proposed and has not applied yet (it stages the id with seq 0). Once that proposal
   * is applied a retry gets the duplicate ack with its seq; if the proposal was lost in a leader change the
   * staged id can stay on that node until the duplicate window ends. Either way: retry with the same id.
   */
  DUPLICATE_MESSAGE_IN_PROCESS: 10158,
} as const;

/**
 * Whether a failed NATS request may succeed if repeated: the reply timed out
 * (the request may or may not have been processed — JetStream dedupe makes a
 * publish retry safe), nobody answered (JetStream restarting, a leader
 * election, NATS reconnecting), JetStream said it is temporarily unavailable (503), or a publish's
 * `Nats-Msg-Id` is still being stored by the stream leader (10158, see `JsErrCode`).
 */
export function isTransientNatsError(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof NoRespondersError) return true;
  if (error instanceof RequestError) return error.isNoResponders();
  if (error instanceof JetStreamApiError) {
    return error.status === 503 || error.code === JsErrCode.DUPLICATE_MESSAGE_IN_PROCESS;
  }
  // A pull ended by the server itself going away or its consumer moving (409 "Server Shutdown",
  // "Leadership Change"): a node restart or a rolling update, not a fault of the request.
  // (JetStreamStatusError is not exported by @nats-io/jetstream: matched by name and code.)
  // A pull answered 503 "no responders": the consumer's node is restarting or not reachable yet (a
  // cluster restart, a node kill) — the same condition as a request's no responders.
  if (error instanceof JetStreamError && error.name === "JetStreamStatusError") {
    const code = (error as JetStreamError & { code?: unknown }).code;
    if (code === 503) return true;
    return code === 409 && /server shutdown|leadership change/i.test(error.message);
  }
  // jetstream.publish reports "no responders" as a JetStreamNotEnabled error (not exported by
  // @nats-io/jetstream) whose cause is the RequestError.
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof RequestError && cause.isNoResponders();
}

export function isClosedError(error: unknown): boolean {
  return error instanceof ClosedConnectionError || error instanceof DrainingConnectionError;
}

export function jsApiErrorCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/** `CLOSED`: `what` failed because the connection's owner closed it. */
export function closedError(what: string, session?: string, cause?: unknown): ThreadlineError {
  return new ThreadlineError(ErrorCode.CLOSED, `${what}: the agent is closed`, {
    ...(session === undefined ? {} : { session }),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Turns a failed NATS/JetStream call (other than a publish) into a typed error. */
export function natsError(what: string, error: unknown, session?: string): ThreadlineError {
  if (error instanceof ThreadlineError) return error;
  const s = session === undefined ? {} : { session };
  if (isClosedError(error)) return closedError(what, session, error);
  const reason = error instanceof Error ? error.message : String(error);
  if (jsApiErrorCode(error) === JsErrCode.STREAM_NOT_FOUND) {
    return new ThreadlineError(ErrorCode.UNAVAILABLE, `${what}: the stream does not exist (${reason})`, {
      ...s,
      cause: error,
    });
  }
  if (isTransientNatsError(error)) {
    return new ThreadlineError(ErrorCode.UNAVAILABLE, `${what}: NATS is unavailable (${reason})`, {
      ...s,
      cause: error,
    });
  }
  return new ThreadlineError(ErrorCode.INTERNAL, `${what}: ${reason}`, { ...s, cause: error, retryable: false });
}
