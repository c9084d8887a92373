import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { closedError, isClosedError, isTransientNatsError, JsErrCode, jsApiErrorCode } from "@threadline/store";

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
