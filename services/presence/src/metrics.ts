import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one presence service instance (each owns its registry; tests run several per process). */
export interface PresenceMetrics {
  registry: Registry;
  connections: Gauge;
  invalidEntries: Counter<"reason">;
  events: Counter<"type" | "result">;
  detections: Counter<"reason">;
  /** Seconds from a bucket change to its presence event being stored (retries included). */
  publishSeconds: Histogram;
  /** Disconnect advisories received from the system account. */
  advisories: Counter;
  natsReconnects: Counter;
  /** 1 while the bucket watch runs (the service is ready), 0 once it ended. */
  watching: Gauge;
  /** Seconds the last bucket snapshot took to load (start-up catch-up). */
  snapshotSeconds: Gauge;
}

export function createPresenceMetrics(): PresenceMetrics {
  const registry = new Registry();
  const r = { registers: [registry] };
  return {
    registry,
    connections: new Gauge({
      name: "threadline_presence_connections",
      help: "Participant connections currently present",
      ...r,
    }),
    invalidEntries: new Counter({
      name: "threadline_presence_invalid_entries_total",
      help: "Presence bucket entries ignored because their key or value is invalid",
      labelNames: ["reason"],
      ...r,
    }),
    events: new Counter({
      name: "threadline_presence_events_total",
      help: "Presence events published (stored, duplicate of another replica's, conflict: the id held by another event, failed)",
      labelNames: ["type", "result"],
      ...r,
    }),
    detections: new Counter({
      name: "threadline_presence_detections_total",
      help: "Connections this replica declared gone (crashed: disconnect advisory; timeout: heartbeat expiry)",
      labelNames: ["reason"],
      ...r,
    }),
    publishSeconds: new Histogram({
      name: "threadline_presence_publish_seconds",
      help: "Time from a presence bucket change to its event being stored in the session",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ...r,
    }),
    advisories: new Counter({
      name: "threadline_presence_disconnect_advisories_total",
      help: "NATS disconnect advisories received (crash detection)",
      ...r,
    }),
    natsReconnects: new Counter({ name: "threadline_presence_nats_reconnects_total", help: "NATS reconnects", ...r }),
    watching: new Gauge({
      name: "threadline_presence_watching",
      help: "1 while the presence bucket watch runs (the service is ready), 0 after it ended",
      ...r,
    }),
    snapshotSeconds: new Gauge({
      name: "threadline_presence_snapshot_seconds",
      help: "Seconds the presence bucket snapshot took to load at start",
      ...r,
    }),
  };
}
