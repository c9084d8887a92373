import { type ControlOwnerEntry, ErrorCode, type PresenceMember, ThreadlineError } from "@threadline/protocol";

/** Where a session's HTTP resources are: the gateway's WebSocket URL (`…/v1/ws`) and the token function. */
export interface ResourceTarget {
  wsUrl: string;
  token: () => Promise<string>;
}

/** The session's members from the gateway (`GET /v1/sessions/:id/presence`); UNAVAILABLE on failure. */
export async function presenceSnapshot(target: ResourceTarget, session: string): Promise<PresenceMember[]> {
  const body = await sessionResource(target, session, "presence");
  if (!Array.isArray(body.members)) throw snapshotError(session, "presence", body);
  return body.members as PresenceMember[];
}

/** The session's owner entry (`GET /v1/sessions/:id/control`); null when the agents own it; UNAVAILABLE on failure. */
export async function controlSnapshot(target: ResourceTarget, session: string): Promise<ControlOwnerEntry | null> {
  const body = await sessionResource(target, session, "control");
  if (!("owner" in body)) throw snapshotError(session, "control", body);
  return body.owner as ControlOwnerEntry | null;
}

/** `GET /v1/sessions/<session>/<what>` on the gateway of `target` with the token; the JSON body, or UNAVAILABLE. */
async function sessionResource(
  target: ResourceTarget,
  session: string,
  what: string,
): Promise<Record<string, unknown>> {
  const url = new URL(target.wsUrl);
  url.protocol = url.protocol === "wss:" || url.protocol === "https:" ? "https:" : "http:";
  url.pathname = url.pathname.replace(/\/v1\/ws\/?$/, "") + `/v1/sessions/${encodeURIComponent(session)}/${what}`;
  url.search = "";
  const token = await target.token();
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw snapshotError(session, what, body, response.status);
  return body;
}

function snapshotError(session: string, what: string, body: Record<string, unknown>, status = 200): ThreadlineError {
  const message = typeof body.message === "string" ? body.message : "";
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `${what} snapshot: ${status} ${message}`, { session });
}
