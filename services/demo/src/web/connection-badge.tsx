import type { Transport } from "@threadline/client";
import type { ConnectionLabel } from "./use-session.ts";

/** Connection state, what carries it (shown when it is the HTTP fallback) and the position a reconnect resumes from. */
export function ConnectionBadge(props: {
  status: ConnectionLabel;
  transport: Transport | undefined;
  position: number | undefined;
}) {
  const { status, transport, position } = props;
  return (
    <div className={`connection ${status}`}>
      <span className="dot" />
      <span data-testid="connection-status">{status}</span>
      <span data-testid="connection-transport" data-transport={transport ?? ""}>
        {transport === "http" ? "over HTTP" : ""}
      </span>
      <span className="position" data-testid="resume-position" data-seq={position ?? 0}>
        {position === undefined ? "no events yet" : `resume at seq ${position}`}
      </span>
    </div>
  );
}
