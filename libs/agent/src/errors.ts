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
 * The agent SDK throws only `ThreadlineError`s (from @threadline/protocol)
 * for runtime conditions, with the protocol's codes — no agent-specific
 * codes are needed:
 * - `INVALID_SESSION`: a session id does not match the id grammar;
 * - `INVALID_FRAME`: an event field (type, id, turn, ref, lane) is invalid —
 *   the same code the gateway answers for the same event;
 * - `EVENT_TOO_LARGE`: the encoded event exceeds the stream's `max_msg_size`
 *   (or the server's max payload);
 * - `TOO_MANY_PENDING`: the publish queue is full (see `AgentOptions.maxWaiting`);
 * - `PUBLISH_FAILED`: NATS did not confirm the event after the retries; safe to
 *   retry with the same event id;
 * - `EVENT_ID_CONFLICT`: the stream answered "duplicate" but the message it
 *   holds under the session's dedupe key is not this event (another author,
 *   lane or type used the id within the duplicate window); nothing was stored;
 * - `UNAVAILABLE`: the stream is missing or incompatible with Threadline; or a
 *   duplicate ack could not be checked (retry with the same event id);
 * - `CLOSED`: the agent (or its connection) was closed; also the abort reason
 *   of a turn handed over by `AgentServer.stop()` after its grace period;
 * - `TURN_ENDED`: the abort reason of a cancelled turn (`ctx.signal.reason`,
 *   naming who cancelled it), and what `ctx.publish` / calls throw after this
 *   worker lost the turn to another one;
 * - `TIMEOUT`: a client tool call / approval nobody answered within `timeoutMs`.
 * Invalid *options* (a bad participant id, a negative limit) are programming
 * errors and throw `TypeError` / `RangeError` at construction instead.
 */
export { ErrorCode, ThreadlineError };

/** JetStream API error codes the SDK reacts to (nats-server `errors.json`). */
export const JsErrCode = {
  STREAM_NAME_IN_USE: 10058,
  STREAM_NOT_FOUND: 10059,
  STREAM_EXPECTED_MISMATCH: 10060,
  STREAM_SUBJECT_OVERLAP: 10065,
  STREAM_UPDATE_REPUBLISH: 10052,
  MESSAGE_TOO_LARGE: 10054,
  CONSUMER_NOT_FOUND: 10014,
} as const;

/**
 * Whether a failed NATS request may succeed if repeated: the reply timed out
 * (the request may or may not have been processed — JetStream dedupe makes a
 * publish retry safe), nobody answered (JetStream restarting, a leader
 * election, NATS reconnecting), or JetStream said it is temporarily unavailable (503).
 */
export function isTransientNatsError(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof NoRespondersError) return true;
  if (error instanceof RequestError) return error.isNoResponders();
  if (error instanceof JetStreamApiError) return error.status === 503;
  // A pull ended by the server itself going away or its consumer moving (409 "Server Shutdown",
  // "Leadership Change"): a node restart or a rolling update, not a fault of the request.
  // (JetStreamStatusError is not exported by @nats-io/jetstream: matched by name and code.)
  if (error instanceof JetStreamError && error.name === "JetStreamStatusError") {
    return (
      (error as JetStreamError & { code?: unknown }).code === 409 &&
      /server shutdown|leadership change/i.test(error.message)
    );
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

export function closedError(what: string, session?: string, cause?: unknown): ThreadlineError {
  return new ThreadlineError(ErrorCode.CLOSED, `${what}: the agent is closed`, {
    ...(session === undefined ? {} : { session }),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Turns the final failure of a publish (after retries) into a typed error. */
export function publishError(error: unknown, session: string, id: string, attempts: number): ThreadlineError {
  if (error instanceof ThreadlineError) return error;
  if (isClosedError(error)) return closedError(`event ${id} was not confirmed`, session, error);
  switch (jsApiErrorCode(error)) {
    case JsErrCode.MESSAGE_TOO_LARGE:
      return new ThreadlineError(ErrorCode.EVENT_TOO_LARGE, `event ${id} exceeds the stream's maximum message size`, {
        session,
        cause: error,
      });
    case JsErrCode.STREAM_EXPECTED_MISMATCH:
      return new ThreadlineError(
        ErrorCode.UNAVAILABLE,
        `event ${id} was not stored: its subject belongs to a different stream than the agent's`,
        { session, cause: error, retryable: false },
      );
  }
  const transient = isTransientNatsError(error);
  const reason = error instanceof Error ? error.message : String(error);
  return new ThreadlineError(
    ErrorCode.PUBLISH_FAILED,
    transient
      ? `event ${id} was not confirmed after ${attempts} attempt(s) (${reason}); retry with the same id`
      : `event ${id} was rejected: ${reason}`,
    { session, cause: error, retryable: transient },
  );
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
