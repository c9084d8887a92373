import {
  ErrorCode,
  type PresenceFrame,
  presenceMetadataProblem,
  presenceStatusProblem,
  ThreadlineError,
} from "@threadline/protocol";
import type { ConnectionPort } from "./connection-port.ts";
import type { PresenceConnection } from "./presence-writer.ts";

/** A socket's presence in `session` (one KV entry per socket and session). */
export function presenceOf(conn: ConnectionPort, session: string): PresenceConnection {
  return {
    session,
    kind: conn.principal?.kind === "operator" ? "operator" : "user",
    id: conn.principal?.user ?? "",
    device: conn.device,
    connection: conn.id,
  };
}

/**
 * `presence` frame: sets the socket's status/metadata in an attached session.
 * NOT_ATTACHED outside an attachment; INVALID_FRAME for a bad status or
 * metadata shape, EVENT_TOO_LARGE for oversized metadata.
 */
export function handlePresenceFrame(conn: ConnectionPort, attached: boolean, frame: PresenceFrame): void {
  const { rid, session } = frame;
  if (!attached) {
    conn.sendError(new ThreadlineError(ErrorCode.NOT_ATTACHED, `not attached to ${session}`, { session }), rid);
    return;
  }
  const statusProblem = presenceStatusProblem(frame.status);
  const metadataProblem = presenceMetadataProblem(frame.metadata);
  if (statusProblem || metadataProblem) {
    const code = metadataProblem?.includes("exceeds") ? ErrorCode.EVENT_TOO_LARGE : ErrorCode.INVALID_FRAME;
    conn.sendError(new ThreadlineError(code, `presence: ${statusProblem ?? metadataProblem}`, { session }), rid);
    return;
  }
  conn.ctx.presence.update(presenceOf(conn, session), frame.status, frame.metadata);
  conn.sendFrame({ op: "presence_set", rid, session, status: frame.status });
}
