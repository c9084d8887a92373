import type uWS from "uWebSockets.js";
import {
  ErrorCode,
  isDeviceId,
  isSeq,
  isSessionId,
  PROTOCOL_VERSION,
  presenceMetadataProblem,
  presenceStatusProblem,
  type StreamState,
  ThreadlineError,
} from "@threadline/protocol";
import type { ControlState, NotificationPreferences, PushSubscriptions } from "@threadline/store";
import { type Authenticator, can } from "./auth.ts";
import type { GatewayConfig } from "./config.ts";
import { corsPreflight } from "./cors.ts";
import type { HttpPresence } from "./durable-streams/http-presence.ts";
import { bearerPrincipal, jsonRoute } from "./json-route.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { PresenceWriter } from "./presence-writer.ts";
import { registerPushRoutes } from "./push-routes.ts";
import { sessionReadRoute } from "./session-read-route.ts";
import type { SessionStateCache } from "./state-cache.ts";

/** A presence status body: a status word and at most 1 KiB of metadata, with room for JSON overhead. */
const PRESENCE_MAX_BODY_BYTES = 4096;

export interface HttpRoutesDeps {
  config: GatewayConfig;
  auth: Authenticator;
  presence: PresenceWriter;
  /** Presence entries of devices reading sessions over HTTP (their status is set by POST). */
  httpPresence: HttpPresence;
  controlState: ControlState;
  /** Shared state snapshots at a seq (the `state` frame's, PROTOCOL.md §19.5). */
  state: Pick<SessionStateCache, "snapshot">;
  /** The stream's current state (its last seq bounds a snapshot position). */
  streamState(): Promise<StreamState>;
  metrics: GatewayMetrics;
  log: Logger;
  /** `/readyz`: not draining and NATS connected. */
  ready(): boolean;
  /** The push bucket's stores, for the offline-delivery routes (push-routes.ts). */
  push: { subscriptions: PushSubscriptions; preferences: NotificationPreferences };
}

/**
 * The gateway's HTTP routes: `/healthz`, `/readyz`, `/metrics`, the session
 * API (`/v1/sessions/:id/presence|control`, with CORS for the allowed
 * origins), the offline-delivery API (`/v1/push/…`, `/v1/notifications/…`,
 * push-routes.ts), and 404 for everything else. Registered after `/v1/ws`.
 */
export function registerHttpRoutes(app: uWS.TemplatedApp, deps: HttpRoutesDeps): void {
  const { config, auth, presence, controlState, metrics, log } = deps;
  app.get("/healthz", (res) => {
    res.writeHeader("content-type", "text/plain").end("ok");
  });
  app.get("/readyz", (res) => {
    const ready = deps.ready();
    res
      .writeStatus(ready ? "200 OK" : "503 Service Unavailable")
      .writeHeader("content-type", "text/plain")
      .end(ready ? "ready" : "not ready");
  });
  app.get("/metrics", (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void metrics.registry.metrics().then((body) => {
      if (aborted) return;
      res.cork(() => {
        res.writeHeader("content-type", metrics.registry.contentType).end(body);
      });
    });
  });
  // The HTTP API is read by browser pages of other origins (the demo, apps): CORS for the allowed origins.
  const preflight = corsPreflight(config.allowedOrigins);
  app.options("/v1/sessions/:session/presence", corsPreflight(config.allowedOrigins, "GET, POST, OPTIONS"));
  app.options("/v1/sessions/:session/control", preflight);
  // Both read a session like attach does (read grant; `Authorization: Bearer <token>`); errors are
  // `{code, message, retryable}` with 400/401/403/503 (session-read-route.ts).
  // 200 `{session, members}`: who is there (PROTOCOL.md §16).
  app.get(
    "/v1/sessions/:session/presence",
    sessionReadRoute(
      auth,
      log,
      "presence",
      async (session) => ({ members: await presence.members(session) }),
      config.allowedOrigins,
    ),
  );
  // 200 `{session, owner}`: the `<session>.owner` entry `{owner, by, since, reason?}` of the control bucket, or
  // null when the key is missing or invalid — the agents own the session (PROTOCOL.md §17.7).
  app.get(
    "/v1/sessions/:session/control",
    sessionReadRoute(
      auth,
      log,
      "control",
      async (session) => ({ owner: (await controlState.getOwner(session))?.value ?? null }),
      config.allowedOrigins,
    ),
  );
  // The `presence` frame over HTTP (PROTOCOL.md §21.10): `{device, status, metadata?}` sets the status of the entry
  // of `device`'s live HTTP read of the session on this gateway. 200 `{session, status}`; 400 INVALID_FRAME,
  // 413 EVENT_TOO_LARGE (metadata over 1 KiB), 401, 403, 409 NOT_ATTACHED (no such live read here).
  app.post(
    "/v1/sessions/:session/presence",
    jsonRoute(
      {
        allowedOrigins: config.allowedOrigins,
        log,
        what: "presence status",
        params: 1,
        body: { maxBytes: PRESENCE_MAX_BODY_BYTES, invalid: ErrorCode.INVALID_FRAME },
      },
      async (request) => {
        const [session = ""] = request.params;
        if (!isSessionId(session)) throw new ThreadlineError(ErrorCode.INVALID_SESSION, "invalid session id");
        const principal = await bearerPrincipal(auth, request.authorization);
        if (!can(principal, session, "read"))
          throw new ThreadlineError(ErrorCode.FORBIDDEN, `not allowed to read session ${session}`);
        const body = (typeof request.body === "object" && request.body !== null ? request.body : {}) as Record<
          string,
          unknown
        >;
        const { device, status, metadata } = body;
        if (typeof device !== "string" || !isDeviceId(device))
          throw new ThreadlineError(ErrorCode.INVALID_FRAME, "device must be a device id", { session });
        const problem = presenceStatusProblem(status) ?? presenceMetadataProblem(metadata);
        if (problem !== undefined) {
          const code = problem.includes("exceeds") ? ErrorCode.EVENT_TOO_LARGE : ErrorCode.INVALID_FRAME;
          throw new ThreadlineError(code, `presence: ${problem}`, { session });
        }
        const reader = {
          session,
          kind: principal.kind === "operator" ? "operator" : "user",
          id: principal.user,
          device,
        } as const;
        if (!deps.httpPresence.update(reader, status as string, metadata as Record<string, unknown> | undefined))
          throw new ThreadlineError(
            ErrorCode.NOT_ATTACHED,
            `device ${device} has no live read of ${session} on this gateway`,
            { session },
          );
        return { status: 200, body: { session, status } };
      },
    ),
  );
  // The WebSocket `welcome` over HTTP (PROTOCOL.md §21.10): the client SDK's HTTP transport checks its token and
  // learns who it is and the limits before it reads or writes a session. 200 `{op: "welcome", version, user, kind,
  // limits}`; 401 `AUTH_FAILED` / `TOKEN_EXPIRED`.
  app.options("/v1/welcome", preflight);
  app.get(
    "/v1/welcome",
    jsonRoute({ allowedOrigins: config.allowedOrigins, log, what: "welcome" }, async (request) => {
      const principal = await bearerPrincipal(auth, request.authorization);
      const body = { op: "welcome", version: PROTOCOL_VERSION, user: principal.user, kind: principal.kind };
      return { status: 200, body: { ...body, limits: config.limits } };
    }),
  );
  // The `state` frame over HTTP (PROTOCOL.md §21.10): every shared state object of the session as of `seq`,
  // for a client resuming over HTTP. Authorized like attach (read on the session). 200 `{session, seq, objects}`;
  // 400 INVALID_SESSION / INVALID_POSITION (not a seq, or past the stream's end); 401; 403; 503.
  app.options("/v1/sessions/:session/state/:seq", preflight);
  app.get(
    "/v1/sessions/:session/state/:seq",
    jsonRoute({ allowedOrigins: config.allowedOrigins, log, what: "state snapshot", params: 2 }, async (request) => {
      const [session = "", at = ""] = request.params;
      if (!isSessionId(session)) throw new ThreadlineError(ErrorCode.INVALID_SESSION, "invalid session id");
      const principal = await bearerPrincipal(auth, request.authorization);
      if (!can(principal, session, "read"))
        throw new ThreadlineError(ErrorCode.FORBIDDEN, `not allowed to read session ${session}`);
      const seq = /^\d{1,16}$/.test(at) ? Number(at) : Number.NaN;
      if (!isSeq(seq) || seq > (await deps.streamState()).lastSeq)
        throw new ThreadlineError(ErrorCode.INVALID_POSITION, "seq must be a stored position of the stream");
      return { status: 200, body: { session, seq, objects: await deps.state.snapshot(session, seq) } };
    }),
  );
  registerPushRoutes(app, { config, auth, metrics, log, ...deps.push });
  app.any("/*", (res) => {
    res.writeStatus("404 Not Found").end("not found");
  });
}
