import uWS from "uWebSockets.js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { CloseCode, epochFromStreamCreated, Subjects } from "@threadline/protocol";
import {
  ControlState,
  type CursorStore,
  createCursorStore,
  createHistoryReader,
  foldStoredState,
  type HistoryReader,
  JsPublisher,
  NotificationPreferences,
  PresenceBucket,
  PushSubscriptions,
  provisionThreadline,
} from "@threadline/store";
import { createAuthenticator } from "./auth.ts";
import type { ClientConnection, ConnectionContext } from "./client-connection.ts";
import type { GatewayConfig } from "./config.ts";
import { ControlGate } from "./control-gate.ts";
import { DataLog } from "./durable-streams/data-log.ts";
import { DataStreams } from "./durable-streams/data-streams.ts";
import { HttpPresence } from "./durable-streams/http-presence.ts";
import { registerDurableStreamRoutes } from "./durable-streams/routes.ts";
import { StreamRecords } from "./durable-streams/stream-records.ts";
import { createEventPublisher } from "./event-publisher.ts";
import { FeedRegistry } from "./feed-registry.ts";
import { registerHttpRoutes } from "./http-routes.ts";
import { FirehoseSource, LIVE_REQUEST_TIMEOUT_MS } from "./live-source.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createMetrics, type GatewayMetrics } from "./metrics.ts";
import { watchNatsStatus } from "./nats-status.ts";
import { createPresenceWriter } from "./presence-writer.ts";
import { RecentEvents } from "./recent-events.ts";
import { sessionHistory } from "./session-history.ts";
import { registerSocketRoute } from "./socket-route.ts";
import { SessionStateCache } from "./state-cache.ts";
import { trackStreamEpoch } from "./stream-epoch.ts";
import { UserLimiter } from "./user-limiter.ts";

/**
 * What the gateway runs on. `nc` carries the live feed, publishes and the
 * buckets; the store parts default to the NATS implementations of
 * `@threadline/store` and may be replaced (e.g. by its in-memory ones) where
 * a test wants to control what the stream or the cursors hold.
 */
export interface GatewayDeps {
  /** A connected NATS client; the gateway does not close it. */
  nc: NatsConnection;
  logger?: Logger;
  /** The stream's history (catch-up reads, stream state, the message at a seq). Default: the store's NATS reader. */
  history?: HistoryReader;
  /** Per-device cursors. Default: the store's KV cursor store on `config.cursorBucket`. */
  cursors?: CursorStore;
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

  let initialEpoch: string;
  if (config.provision) {
    const info = await provisionThreadline(nc, {
      stream: config.stream,
      prefix: config.subjectPrefix,
      livePrefix: config.livePrefix,
      replicas: config.replicas,
      cursorBucket: config.cursorBucket,
      presenceBucket: config.presenceBucket,
      controlBucket: config.controlBucket,
      pushBucket: config.pushBucket,
      streamsBucket: config.durableStreams.bucket,
    });
    initialEpoch = info.epoch;
  } else {
    initialEpoch = epochFromStreamCreated((await jsm.streams.info(config.stream)).created);
  }

  const reader = deps.history ?? createHistoryReader(js, jsm, { stream: config.stream });
  const stored = sessionHistory(reader, subjects, {
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
  const epoch = trackStreamEpoch(stored, initialEpoch);
  const history = epoch.history;
  // Its own JetStream client: nats.js's own consumer re-creations give up as early as the source's (live-source.ts).
  const liveJs = jetstream(nc, { timeout: LIVE_REQUEST_TIMEOUT_MS });
  const live = new FirehoseSource(liveJs, config.stream, subjects.all(), history, metrics, log);
  // Fed from the gateway's start, so catch-ups of sessions nobody here is attached to come from memory.
  const recent = new RecentEvents(config.recentEventsBytes, (bytes, sessions) => {
    metrics.recentEventsBytes.set(bytes);
    metrics.recentEventsSessions.set(sessions);
  });
  await recent.start(live, epoch.current());
  const feeds = new FeedRegistry(
    live,
    history,
    {
      ringMaxEvents: config.ringMaxEvents,
      ringMaxBytes: config.ringMaxBytes,
      catchUpMaxEvents: config.ringCatchUpEvents,
      catchUpMaxBytes: config.ringCatchUpBytes,
      lingerMs: config.feedLingerMs,
      maxFeeds: config.maxFeeds,
    },
    metrics,
    log,
    recent,
  );
  const cursors =
    deps.cursors ??
    createCursorStore(await new Kvm(nc).open(config.cursorBucket), config.cursorFlushMs, (error, key) =>
      log.warn({ err: error, key }, "cursor write failed; will retry"),
    );
  const presence = createPresenceWriter(
    new PresenceBucket(await new Kvm(nc).open(config.presenceBucket), nc),
    nc,
    config.presenceHeartbeatMs,
    log,
  );
  const controlState = new ControlState(await new Kvm(nc).open(config.controlBucket));
  const pushKv = await new Kvm(nc).open(config.pushBucket);
  const control = new ControlGate(controlState, metrics);
  const auth = createAuthenticator(config.jwt);
  const state = new SessionStateCache(
    {
      streamState: () => history.streamState(),
      fold: (session, start, upToSeq, onRecord) =>
        foldStoredState(reader, subjects, session, {
          start,
          ...(upToSeq === undefined ? {} : { upToSeq }),
          ...(onRecord === undefined ? {} : { onRecord }),
          onInvalid: () => metrics.invalidEvents.inc(),
        }),
    },
    { maxSessions: config.stateCacheSessions, feedOf: (session) => feeds.active(session) },
  );
  // One reply subscription and deadline timer for every client and data-stream write of this gateway.
  const publisher = new JsPublisher(nc);
  const ctx: ConnectionContext = {
    limits: config.limits,
    users: new UserLimiter(config.userLimits, metrics.registry),
    auth,
    feeds,
    history,
    cursors,
    publisher: createEventPublisher(publisher, subjects, config.stream, 5_000, (seq) => history.messageAt(seq)),
    metrics,
    log,
    slowTimeoutMs: config.slowTimeoutMs,
    attachmentBuffer: config.attachmentBuffer,
    epoch: () => epoch.current(),
    presence,
    control,
    state,
  };

  const nats = watchNatsStatus(nc, log, metrics, () => void feeds.recoverAll());

  const sockets = new Set<ClientConnection>();
  let draining = false;
  // TLS in the process (uWS SSLApp) when configured; otherwise plain ws behind a TLS-terminating ingress.
  const app = config.tls
    ? uWS.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile })
    : uWS.App();
  registerSocketRoute(app, { config, ctx, metrics, sockets, draining: () => draining });
  // HTTP readers stay present through their reconnects: 3 heartbeats, the presence service's own timeout.
  const httpPresence = new HttpPresence(presence, 3 * config.presenceHeartbeatMs);
  registerDurableStreamRoutes(app, {
    settings: config.durableStreams,
    ctx,
    data: new DataStreams(
      await StreamRecords.open(nc, config.durableStreams.bucket),
      new DataLog(publisher, jsm, reader, subjects, config.stream),
    ),
    feeds,
    history,
    allowedOrigins: config.allowedOrigins,
    secure: config.tls !== undefined,
    presence: httpPresence,
  });
  registerHttpRoutes(app, {
    config,
    auth,
    presence,
    httpPresence,
    controlState,
    state,
    streamState: () => history.streamState(),
    metrics,
    log,
    ready: () => !draining && nats.up,
    push: { subscriptions: new PushSubscriptions(pushKv), preferences: new NotificationPreferences(pushKv) },
  });

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`gateway could not listen on ${config.host}:${config.port}`));
    });
  });
  const port = uWS.us_socket_local_port(listenSocket);
  log.info(
    { port, gatewayId: config.gatewayId, uws: uwsImplementation(), stream: config.stream, epoch: epoch.current() },
    "gateway listening",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      uWS.us_listen_socket_close(listenSocket);
      for (const connection of [...sockets]) connection.close(CloseCode.GOING_AWAY, "gateway shutting down; reconnect");
      await cursors.close().catch((error: unknown) => log.warn({ err: error }, "cursor flush on shutdown failed"));
      httpPresence.close();
      await presence.close();
      feeds.closeAll();
      state.clear();
      publisher.close();
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
