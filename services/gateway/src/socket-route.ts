import type uWS from "uWebSockets.js";
import { ClientConnection, type ConnectionContext, type SocketData } from "./client-connection.ts";
import type { GatewayConfig } from "./config.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { admitUpgrade, type UpgradeDecision } from "./upgrade-policy.ts";

/** Socket data plus the admission refusal decided in the upgrade handler (closed right after open). */
type UpgradeData = SocketData & { refusal?: Extract<UpgradeDecision, { ok: false }> };

export interface SocketRouteDeps {
  config: GatewayConfig;
  ctx: ConnectionContext;
  metrics: GatewayMetrics;
  /** The open connections (the route adds and removes them; shutdown closes them). */
  sockets: Set<ClientConnection>;
  /** True once shutdown began: new upgrades get 503. */
  draining(): boolean;
}

/**
 * `/v1/ws`: admission in the upgrade (draining, origin, token placement —
 * `upgrade-policy.ts`), one `ClientConnection` per socket, and the uWS
 * limits (frame size, idle timeout, the backpressure guard).
 */
export function registerSocketRoute(app: uWS.TemplatedApp, deps: SocketRouteDeps): void {
  const { config, ctx, metrics, sockets } = deps;
  app.ws<UpgradeData>("/v1/ws", {
    maxPayloadLength: config.limits.maxPayloadBytes,
    idleTimeout: config.limits.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    // Above maxBufferedBytes an attachment leaves the live feed; this hard cap only guards against bugs.
    maxBackpressure: config.limits.maxBufferedBytes * 2 + config.ringMaxBytes + config.limits.maxPayloadBytes,
    closeOnBackpressureLimit: 0,
    upgrade: (res, req, context) => {
      if (deps.draining()) {
        res.writeStatus("503 Service Unavailable").end("draining");
        return;
      }
      // Headers and query must be read before any await/upgrade: uWS invalidates `req` afterwards.
      const decision = admitUpgrade(
        {
          origin: req.getHeader("origin"),
          authorization: req.getHeader("authorization"),
          queryToken: req.getQuery("access_token") || req.getQuery("token") || "",
        },
        config,
      );
      const offered = req.getHeader("sec-websocket-protocol");
      const protocol = offered
        .split(",")
        .map((p) => p.trim())
        .includes("threadline.v1")
        ? "threadline.v1"
        : "";
      const data: UpgradeData = {
        upgradeToken: decision.ok ? decision.token : undefined,
        remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
        ...(decision.ok ? {} : { refusal: decision }),
      };
      res.upgrade(
        data,
        req.getHeader("sec-websocket-key"),
        protocol,
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open: (ws) => {
      const data = ws.getUserData();
      if (data.refusal) {
        metrics.authFailures.inc({ code: data.refusal.metric });
        ws.end(data.refusal.code, data.refusal.reason);
        return;
      }
      const connection = new ClientConnection(ws, ctx, data.upgradeToken);
      // The connection holds the token until its first hello; the socket's data need not keep it for its lifetime.
      data.upgradeToken = undefined;
      data.connection = connection;
      sockets.add(connection);
      metrics.connections.set(sockets.size);
    },
    message: (ws, message, isBinary) => {
      ws.getUserData().connection?.onMessage(message, isBinary);
    },
    drain: (ws) => {
      ws.getUserData().connection?.onDrain();
    },
    close: (ws) => {
      const connection = ws.getUserData().connection;
      if (!connection) return;
      connection.onClose();
      sockets.delete(connection);
      metrics.connections.set(sockets.size);
    },
  });
}
