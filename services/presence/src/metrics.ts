import { Counter, Gauge, Registry } from "prom-client";

/** Prometheus metrics of one presence service instance (each owns its registry; tests run several per process). */
export interface PresenceMetrics {
  registry: Registry;
  connections: Gauge;
  invalidEntries: Counter<"reason">;
  events: Counter<"type" | "result">;
  detections: Counter<"reason">;
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
      help: "Presence events published (stored, duplicate of another replica's, failed)",
      labelNames: ["type", "result"],
      ...r,
    }),
    detections: new Counter({
      name: "threadline_presence_detections_total",
      help: "Connections this replica declared gone (crashed: disconnect advisory; timeout: heartbeat expiry)",
      labelNames: ["reason"],
      ...r,
    }),
  };
}
