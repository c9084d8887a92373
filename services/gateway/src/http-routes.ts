import type uWS from "uWebSockets.js";
import type { ControlState } from "@threadline/store";
import type { Authenticator } from "./auth.ts";
import type { GatewayConfig } from "./config.ts";
import { controlRoute } from "./control-route.ts";
import { corsPreflight } from "./cors.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { presenceRoute } from "./presence-route.ts";
import type { PresenceWriter } from "./presence-writer.ts";

export interface HttpRoutesDeps {
  config: GatewayConfig;
  auth: Authenticator;
  presence: PresenceWriter;
  controlState: ControlState;
  metrics: GatewayMetrics;
  log: Logger;
  /** `/readyz`: not draining and NATS connected. */
  ready(): boolean;
}

/**
 * The gateway's HTTP routes: `/healthz`, `/readyz`, `/metrics`, the session
 * API (`/v1/sessions/:id/presence|control`, with CORS for the allowed
 * origins), and 404 for everything else. Registered after `/v1/ws`.
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
  app.options("/v1/sessions/:session/presence", preflight);
  app.options("/v1/sessions/:session/control", preflight);
  app.get("/v1/sessions/:session/presence", presenceRoute(auth, presence, log, config.allowedOrigins));
  app.get("/v1/sessions/:session/control", controlRoute(auth, controlState, log, config.allowedOrigins));
  app.any("/*", (res) => {
    res.writeStatus("404 Not Found").end("not found");
  });
}
