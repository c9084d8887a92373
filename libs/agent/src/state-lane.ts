import {
  ErrorCode,
  Lane,
  mayWriteObject,
  STATE_EVENT_TYPE,
  type StateOp,
  stateOpProblem,
  ThreadlineError,
} from "@threadline/protocol";

/**
 * The rule `agent.publish` applies to shared state (PROTOCOL.md §19.2): a
 * `state` event goes on lane `st`, and lane `st` holds only `state` events
 * with a valid op on an object the agent's kind may write — readers fold
 * the `st` lane, so anything else there would be noise every reader skips.
 * Throws `INVALID_FRAME` or `FORBIDDEN`; nothing is stored.
 */
export function checkStateLane(session: string, lane: string, type: string, data: unknown, kind: string): void {
  const isState = type === STATE_EVENT_TYPE;
  if (isState !== (lane === Lane.ST)) {
    throw new ThreadlineError(
      ErrorCode.INVALID_FRAME,
      isState ? `"state" events go on lane "st", not ${JSON.stringify(lane)}` : `lane "st" holds only "state" events`,
      { session },
    );
  }
  if (!isState) return;
  const problem = stateOpProblem(data);
  if (problem) throw new ThreadlineError(ErrorCode.INVALID_FRAME, problem, { session });
  const object = (data as StateOp).object;
  if (!mayWriteObject(kind, object)) {
    throw new ThreadlineError(
      ErrorCode.FORBIDDEN,
      `a participant of kind ${kind} may not write state object ${object}`,
      {
        session,
      },
    );
  }
}
