import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one gateway; each gateway instance owns its registry (tests run several per process). */
export interface GatewayMetrics {
  registry: Registry;
  connections: Gauge;
  attachments: Gauge;
  activeFeeds: Gauge;
  eventsDelivered: Counter;
  catchUpSeconds: Histogram;
  /** Catch-ups by where their first pass read from: the feed's `ring`, the recent-events `cache`, or the `history` (JetStream). */
  catchUps: Counter<"source">;
  catchUpBacklogWaits: Counter<"outcome">;
  /** Bytes and sessions held by the recent-events cache (recent-events.ts). */
  recentEventsBytes: Gauge;
  recentEventsSessions: Gauge;
  slowFallbacks: Counter;
  slowCloses: Counter;
  authFailures: Counter<"code">;
  clientErrors: Counter<"code">;
  publishes: Counter<"result">;
  /** Client control events (and inputs) refused against the control state, by event type and error code. */
  controlRefusals: Counter<"type" | "code">;
  natsReconnects: Counter;
  feedFailures: Counter<"reason">;
  /**
   * Live source re-syncs: `reconnect` (recreated after a NATS reconnect), `consumer-recreated` (nats.js
   * recreated it after a gap), `heartbeats-missed` (the gateway recreated it: its node died or the link stalled),
   * `history-lost` (the stream no longer held the last delivered event: restarted at the stream's end).
   */
  liveResyncs: Counter<"reason">;
  /**
   * Stored in JetStream (the stream leader's timestamp of the message) → handed to this gateway's sockets
   * by the live feed, per live event; includes the clock skew between the two hosts.
   */
  liveLag: Histogram;
  /** Live-feed listeners taken off because they threw: a session's feed (`session`) or the recent-events cache (`tap`). A gateway bug: alert. */
  liveDispatchErrors: Counter<"listener">;
  invalidEvents: Counter;
  forgedAuthors: Counter<"path">;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  const r = { registers: [registry] };
  return {
    registry,
    connections: new Gauge({ name: "threadline_gateway_connections", help: "Open WebSocket connections", ...r }),
    attachments: new Gauge({ name: "threadline_gateway_attachments", help: "Socket-session attachments", ...r }),
    activeFeeds: new Gauge({
      name: "threadline_gateway_active_sessions",
      help: "Sessions with a live feed on this gateway",
      ...r,
    }),
    eventsDelivered: new Counter({
      name: "threadline_gateway_events_delivered_total",
      help: "Event frames sent to sockets",
      ...r,
    }),
    catchUpSeconds: new Histogram({
      name: "threadline_gateway_catch_up_seconds",
      help: "Time from attach (or lag) to live",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...r,
    }),
    catchUps: new Counter({
      name: "threadline_gateway_catch_ups_total",
      help: "Catch-ups by where they started reading: ring (the session's feed), cache (recent events), history (JetStream)",
      labelNames: ["source"],
      ...r,
    }),
    catchUpBacklogWaits: new Counter({
      name: "threadline_gateway_catch_up_backlog_waits_total",
      help: "Catch-ups from memory that waited for events the firehose had not delivered yet before synced: reached, or timeout (synced sent after 2 s; the firehose lags)",
      labelNames: ["outcome"],
      ...r,
    }),
    recentEventsBytes: new Gauge({
      name: "threadline_gateway_recent_events_bytes",
      help: "Bytes held by the recent-events cache (THREADLINE_CACHE_BYTES bounds it)",
      ...r,
    }),
    recentEventsSessions: new Gauge({
      name: "threadline_gateway_recent_events_sessions",
      help: "Sessions with events in the recent-events cache",
      ...r,
    }),
    slowFallbacks: new Counter({
      name: "threadline_gateway_slow_fallbacks_total",
      help: "Attachments moved off the live feed because their socket was backed up",
      ...r,
    }),
    slowCloses: new Counter({
      name: "threadline_gateway_slow_closes_total",
      help: "Sockets closed for staying backed up",
      ...r,
    }),
    authFailures: new Counter({
      name: "threadline_gateway_auth_failures_total",
      help: "Rejected tokens",
      labelNames: ["code"],
      ...r,
    }),
    clientErrors: new Counter({
      name: "threadline_gateway_client_errors_total",
      help: "Error frames sent to clients",
      labelNames: ["code"],
      ...r,
    }),
    publishes: new Counter({
      name: "threadline_gateway_publishes_total",
      help: "Client events published",
      labelNames: ["result"],
      ...r,
    }),
    controlRefusals: new Counter({
      name: "threadline_gateway_control_refusals_total",
      help: "Client control events refused by the control state (unknown/ended turn, unknown/answered/closed call, forbidden)",
      labelNames: ["type", "code"],
      ...r,
    }),
    natsReconnects: new Counter({ name: "threadline_gateway_nats_reconnects_total", help: "NATS reconnects", ...r }),
    feedFailures: new Counter({
      name: "threadline_gateway_feed_failures_total",
      help: "Live feeds ended explicitly (e.g. the stream was recreated)",
      labelNames: ["reason"],
      ...r,
    }),
    liveResyncs: new Counter({
      name: "threadline_gateway_live_resyncs_total",
      help: "Times the live feed (the gateway's ordered consumer) was re-synced from the last delivered seq",
      labelNames: ["reason"],
      ...r,
    }),
    liveLag: new Histogram({
      name: "threadline_gateway_live_lag_seconds",
      help: "Live events: stored in JetStream (the stream leader's timestamp) until handed to this gateway's sockets",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ...r,
    }),
    liveDispatchErrors: new Counter({
      name: "threadline_gateway_live_dispatch_errors_total",
      help: "Live events whose handling threw: that session's feed was ended (listener=session) or the recent-events cache reset (listener=tap)",
      labelNames: ["listener"],
      ...r,
    }),
    invalidEvents: new Counter({
      name: "threadline_gateway_invalid_events_total",
      help: "Stored payloads that are not valid envelopes (skipped)",
      ...r,
    }),
    forgedAuthors: new Counter({
      name: "threadline_gateway_forged_authors_total",
      help: "Stored events whose from differs from the author their subject pins; delivered with the subject's author",
      labelNames: ["path"],
      ...r,
    }),
  };
}
