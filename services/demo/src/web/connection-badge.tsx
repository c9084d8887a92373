import type { ConnectionLabel } from "./use-session.ts";

/** Connection state and the position a reconnect resumes from. */
export function ConnectionBadge({ status, position }: { status: ConnectionLabel; position: number | undefined }) {
  return (
    <div className={`connection ${status}`}>
      <span className="dot" />
      <span data-testid="connection-status">{status}</span>
      <span className="position" data-testid="resume-position" data-seq={position ?? 0}>
        {position === undefined ? "no events yet" : `resume at seq ${position}`}
      </span>
    </div>
  );
}
