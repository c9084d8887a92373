import uWS from "uWebSockets.js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { CloseCode, epochFromStreamCreated, Subjects } from "@threadline/protocol";
import {
  ControlState,
  createCursorStore,
  createHistoryReader,
  PresenceBucket,
  provisionThreadline,
} from "@threadline/store";
import { createAuthenticator } from "./auth.ts";
import { ClientConnection, type ConnectionContext, type SocketData } from "./client-connection.ts";
import type { GatewayConfig } from "./config.ts";
import { ControlGate } from "./control-gate.ts";
import { controlRoute } from "./control-route.ts";
import { corsPreflight } from "./cors.ts";
import { createEventPublisher } from "./event-publisher.ts";
import { FeedRegistry } from "./feed-registry.ts";
import { FirehoseSource } from "./live-source.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createMetrics, type GatewayMetrics } from "./metrics.ts";
import { presenceRoute } from "./presence-route.ts";
import { createPresenceWriter } from "./presence-writer.ts";
import { type SessionHistory, sessionHistory } from "./session-history.ts";
import { admitUpgrade, type UpgradeDecision } from "./upgrade-policy.ts";
import { UserLimiter } from "./user-limiter.ts";

/** Socket data plus the admission refusal decided in the upgrade handler (closed right after open). */
type UpgradeData = SocketData & { refusal?: Extract<UpgradeDecision, { ok: false }> };

export interface GatewayDeps {
  /** A connected NATS client; the gateway does not close it. */
  nc: NatsConnection;
  logger?: Logger;
}

export interface Gateway extends AsyncDisposable {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  /** `ws://127.0.0.1:<port>/v1/ws` style URL for local clients. */
  readonly url: string;
  readonly metrics: GatewayMetrics;
  /** Number of open sockets. */
  readonly connections: number;
  /** Active session feeds (one NATS subscription each). */
  readonly activeSessions: number;
  /**
   * Graceful shutdown: stop accepting, report not-ready, close every socket
   * with 1001 (clients reconnect elsewhere and resume), flush cursors.
   */
  close(): Promise<void>;
}

/** Which uWebSockets.js implementation is loaded: the native addon, or the package's JS fallback. */
export function uwsImplementation(): "native" | "fallback" {
  return /\[native code\]/.test(Function.prototype.toString.call(uWS.App)) ? "native" : "fallback";
}

/**
 * Composition root of the edge gateway: wires auth, the feed registry, the
 * history reader, the cursor store and the publisher behind a uWebSockets.js
 * app serving `/v1/ws`, `/healthz`, `/readyz`, `/metrics` and the HTTP API
 * (`/v1/sessions/:id/presence|control`, with CORS for the allowed origins).
 */
export async function createGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.logger ?? createLogger(config.logLevel);
  const { nc } = deps;
  const metrics = createMetrics();
  const subjects = new Subjects(config.subjectPrefix, config.livePrefix);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  let epoch: string;
  if (config.provision) {
    const info = await provisionThreadline(nc, {
      stream: config.stream,
      prefix: config.subjectPrefix,
      livePrefix: config.livePrefix,
      replicas: config.replicas,
      cursorBucket: config.cursorBucket,
      presenceBucket: config.presenceBucket,
      controlBucket: config.controlBucket,
    });
    epoch = info.epoch;
  } else {
    epoch = epochFromStreamCreated((await jsm.streams.info(config.stream)).created);
  }
  const kv = await new Kvm(nc).open(config.cursorBucket);

  // The gateway's idea of the stream's epoch follows every stream-state read (a recreated stream
  // changes it), so the attach checks and the HTTP reads compare positions with the current one.
  const stored = sessionHistory(createHistoryReader(js, jsm, { stream: config.stream }), subjects, {
    onInvalid: () => metrics.invalidEvents.inc(),
    onForged: (record) => {
      metrics.forgedAuthors.inc({ path: "history" });
      log.warn(
        {
          session: record.session,
          seq: record.seq,
          subject: record.subject,
          claimed: record.forgedFrom,
          from: record.event.from,
        },
        "stored event claims another author than its subject; delivered with the subject's author",
      );
    },
  });
  const history: SessionHistory = {
    ...stored,
    async streamState() {
      const state = await stored.streamState();
      epoch = state.epoch;
      return state;
    },
  };
  const feeds = new FeedRegistry(
    new FirehoseSource(js, config.stream, subjects.all(), history, metrics),
    history,
    {
      ringMaxEvents: config.ringMaxEvents,
      ringMaxBytes: config.ringMaxBytes,
      lingerMs: config.feedLingerMs,
      maxFeeds: config.maxFeeds,
    },
    metrics,
    log,
  );
  const cursors = createCursorStore(kv, config.cursorFlushMs, (error, key) =>
    log.warn({ err: error, key }, "cursor write failed; will retry"),
  );
  const presence = createPresenceWriter(
    new PresenceBucket(await new Kvm(nc).open(config.presenceBucket), nc),
    nc,
    config.presenceHeartbeatMs,
    log,
  );
  const controlState = new ControlState(await new Kvm(nc).open(config.controlBucket));
  const control = new ControlGate(controlState, metrics);
  const auth = createAuthenticator(config.jwt);
  const ctx: ConnectionContext = {
    limits: config.limits,
    users: new UserLimiter(config.userLimits, metrics.registry),
    auth,
    feeds,
    history,
    cursors,
    publisher: createEventPublisher(js, subjects, config.stream, 5_000, (seq) => history.messageAt(seq)),
    metrics,
    log,
    slowTimeoutMs: config.slowTimeoutMs,
    attachmentBuffer: config.attachmentBuffer,
    epoch: () => epoch,
    presence,
    control,
  };

  // The live source (an ordered consumer) recovers from reconnects by itself; after one, resume it at
  // once and make sure the stream was not recreated meanwhile, which would void every position handed out.
  let natsUp = !nc.isClosed();
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        natsUp = false;
        log.warn({ server: status.server }, "NATS disconnected");
      } else if (status.type === "reconnect") {
        natsUp = true;
        metrics.natsReconnects.inc();
        log.info({ server: status.server }, "NATS reconnected");
        void feeds.recoverAll();
      }
    }
  })();

  const sockets = new Set<ClientConnection>();
  let draining = false;
  // TLS in the process (uWS SSLApp) when configured; otherwise plain ws behind a TLS-terminating ingress.
  const app = config.tls
    ? uWS.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile })
    : uWS.App();
  app.ws<UpgradeData>("/v1/ws", {
    maxPayloadLength: config.limits.maxPayloadBytes,
    idleTimeout: config.limits.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    // Above maxBufferedBytes an attachment leaves the live feed; this hard cap only guards against bugs.
    maxBackpressure: config.limits.maxBufferedBytes * 2 + config.ringMaxBytes + config.limits.maxPayloadBytes,
    closeOnBackpressureLimit: 0,
    upgrade: (res, req, context) => {
      if (draining) {
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
  app.get("/healthz", (res) => {
    res.writeHeader("content-type", "text/plain").end("ok");
  });
  app.get("/readyz", (res) => {
    const ready = !draining && natsUp && !nc.isClosed();
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

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`gateway could not listen on ${config.host}:${config.port}`));
    });
  });
  const port = uWS.us_socket_local_port(listenSocket);
  log.info(
    { port, gatewayId: config.gatewayId, uws: uwsImplementation(), stream: config.stream, epoch },
    "gateway listening",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      uWS.us_listen_socket_close(listenSocket);
      for (const connection of [...sockets]) connection.close(CloseCode.GOING_AWAY, "gateway shutting down; reconnect");
      await cursors.close().catch((error: unknown) => log.warn({ err: error }, "cursor flush on shutdown failed"));
      await presence.close();
      feeds.closeAll();
      log.info({ gatewayId: config.gatewayId }, "gateway stopped");
    })();
    return closing;
  };

  return {
    port,
    url: `${config.tls ? "wss" : "ws"}://127.0.0.1:${port}/v1/ws`,
    metrics,
    get connections() {
      return sockets.size;
    },
    get activeSessions() {
      return feeds.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
