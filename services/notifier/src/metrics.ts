import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Why a trigger notified nobody (for one user, or at all). */
export type SkipReason = "present" | "muted" | "answered" | "stale" | "no_audience" | "no_channel";

/** Prometheus metrics of one notifier instance (each owns its registry; tests run several per process). */
export interface NotifierMetrics {
  registry: Registry;
  /** Triggers seen for the first time, by kind. */
  triggers: Counter<"kind">;
  /** Notifications delivered, per channel (Web Push: per subscription). */
  sent: Counter<"channel">;
  failed: Counter<"channel" | "reason">;
  deadLetters: Counter;
  /** A claim held by another replica or already completed: delivery not repeated. */
  deduplicated: Counter;
  /** A trigger that collapsed into a later one of its burst. */
  collapsed: Counter;
  skipped: Counter<"reason">;
  /** Notifications deferred by the per-user rate limit. */
  deferred: Counter;
  subscriptionsRemoved: Counter;
  /** From the trigger's stream timestamp to the channel's success. */
  latency: Histogram<"channel">;
  /** Trigger handlings running now. */
  inFlight: Gauge;
  /** 1 while both durable consumers pull. */
  consuming: Gauge;
}

export function createNotifierMetrics(): NotifierMetrics {
  const registry = new Registry();
  const r = { registers: [registry] };
  const p = "threadline_notifier_";
  return {
    registry,
    triggers: new Counter({
      name: `${p}triggers_total`,
      help: "Triggers seen for the first time",
      labelNames: ["kind"],
      ...r,
    }),
    sent: new Counter({
      name: `${p}sent_total`,
      help: "Notifications delivered (push: per subscription)",
      labelNames: ["channel"],
      ...r,
    }),
    failed: new Counter({
      name: `${p}failed_total`,
      help: "Deliveries that failed (push per subscription: gone, refused, exhausted, host_not_allowed; hook: permanent, exhausted)",
      labelNames: ["channel", "reason"],
      ...r,
    }),
    deadLetters: new Counter({ name: `${p}dead_letters_total`, help: "Webhook deliveries dead-lettered", ...r }),
    deduplicated: new Counter({
      name: `${p}deduplicated_total`,
      help: "Claims found held by another replica or already completed",
      ...r,
    }),
    collapsed: new Counter({ name: `${p}collapsed_total`, help: "Triggers collapsed into a later notification", ...r }),
    skipped: new Counter({
      name: `${p}skipped_total`,
      help: "Triggers that notified nobody, by reason (per user where a user is known)",
      labelNames: ["reason"],
      ...r,
    }),
    deferred: new Counter({
      name: `${p}deferred_total`,
      help: "Notifications deferred by the per-user rate limit",
      ...r,
    }),
    subscriptionsRemoved: new Counter({
      name: `${p}subscriptions_removed_total`,
      help: "Push subscriptions removed after the push service answered 404/410",
      ...r,
    }),
    latency: new Histogram({
      name: `${p}latency_seconds`,
      help: "Seconds from the trigger's stream timestamp to the channel's success (includes the notify delay)",
      labelNames: ["channel"],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15, 30, 60, 120, 300, 900],
      ...r,
    }),
    inFlight: new Gauge({ name: `${p}in_flight`, help: "Trigger handlings running now", ...r }),
    consuming: new Gauge({ name: `${p}consuming`, help: "1 while both durable consumers pull", ...r }),
  };
}
