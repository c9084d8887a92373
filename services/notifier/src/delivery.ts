import type {
  ClaimTicket,
  DeadLetters,
  NotificationClaims,
  NotifyChannel,
  PushSubscriptionRecord,
  PushSubscriptions,
} from "@threadline/store";
import { notificationClaimKey } from "@threadline/store";
import type { pino } from "pino";
import type { WebhookConfig } from "./config.ts";
import type { NotifierMetrics } from "./metrics.ts";
import type { NotificationPayload } from "./payload.ts";
import { type PushHeaders, pushHeaders, type WebPushChannel } from "./web-push.ts";
import { deliverWebhook } from "./webhook.ts";

/**
 * What a reserved notification needs to be delivered again exactly as
 * decided (it is stored in the user's burst mark until delivered).
 */
export interface Reservation {
  payload: NotificationPayload;
  urgency: PushHeaders["urgency"];
  /** The last trigger's call deadline: the push TTL ends there. */
  deadline?: number;
}

export interface DeliveryDeps {
  claims: NotificationClaims;
  subscriptions: PushSubscriptions;
  deadLetters: DeadLetters<NotificationPayload>;
  /** Web Push, when VAPID is configured. */
  push: WebPushChannel | undefined;
  webhook: WebhookConfig | undefined;
  /** This replica: the claims' owner. */
  owner: string;
  metrics: NotifierMetrics;
  log: pino.Logger;
  now: () => number;
}

/** Delivered on every channel (or nothing to deliver), or some claim is held by another replica until `retryAt`. */
export type DeliveryResult = { done: true } | { done: false; retryAt: number };

/**
 * Delivers a notification on its channels, each under its own claim
 * (`<notification id>.push` / `.hook`): the webhook once whatever the user's
 * subscriptions, Web Push to every subscription of the user (none: no push
 * claim). A claim completed by anyone is not delivered again (deduplicated);
 * a claim another replica holds makes the result not done (try again after
 * its lease). `signal` (shutdown) stops retries; the claim is then left to
 * its lease and the result is not done.
 */
export async function deliverNotification(
  deps: DeliveryDeps,
  reservation: Reservation,
  signal: AbortSignal,
): Promise<DeliveryResult> {
  const user = reservation.payload.user;
  const subscriptions = deps.push ? await deps.subscriptions.list(user) : [];
  const channels: (() => Promise<DeliveryResult>)[] = [];
  if (deps.webhook) {
    const webhook = deps.webhook;
    channels.push(() =>
      claimed(deps, reservation, "hook", signal, (ticket, s) => hook(deps, webhook, reservation, ticket, s)),
    );
  }
  if (deps.push && subscriptions.length > 0) {
    const push = deps.push;
    channels.push(() =>
      claimed(deps, reservation, "push", signal, (_ticket, s) => pushAll(deps, push, reservation, subscriptions, s)),
    );
  }
  const results = await Promise.all(channels.map((run) => run()));
  const waiting = results.filter((r): r is { done: false; retryAt: number } => !r.done);
  return waiting.length === 0 ? { done: true } : { done: false, retryAt: Math.min(...waiting.map((r) => r.retryAt)) };
}

/** How one channel's delivery ended under its claim. */
type ChannelOutcome = { status: "sent" | "failed" | "dead"; detail?: string } | { status: "aborted" };

async function claimed(
  deps: DeliveryDeps,
  reservation: Reservation,
  channel: NotifyChannel,
  signal: AbortSignal,
  run: (ticket: ClaimTicket, signal: AbortSignal) => Promise<ChannelOutcome>,
): Promise<DeliveryResult> {
  const key = notificationClaimKey(reservation.payload.id, channel);
  const ticket = await deps.claims.claim(key, deps.owner);
  if (!ticket) {
    deps.metrics.deduplicated.inc();
    const entry = await deps.claims.get(key);
    if (entry?.status === "claimed") return { done: false, retryAt: entry.at + deps.claims.policy.leaseMs };
    return { done: true };
  }
  if (ticket.takeover) deps.log.info({ key, attempts: ticket.attempts }, "took over an abandoned notification claim");
  const lease = keepLease(deps, ticket);
  let outcome: ChannelOutcome;
  try {
    outcome = await run(ticket, AbortSignal.any([signal, lease.lost]));
  } finally {
    lease.stop();
  }
  if (outcome.status === "aborted" || lease.lost.aborted) {
    // Shutdown or taken over: whoever holds the claim next finishes it.
    return { done: false, retryAt: deps.now() + deps.claims.policy.leaseMs };
  }
  if (!(await deps.claims.complete(lease.ticket(), outcome.status, outcome.detail))) {
    deps.log.warn({ key }, "notification claim was taken over before it completed");
  }
  return { done: true };
}

/** Renews the ticket every third of the lease while a delivery runs; `lost` fires when another owner took it. */
function keepLease(deps: DeliveryDeps, first: ClaimTicket) {
  let ticket = first;
  const lost = new AbortController();
  let renewing = false;
  const timer = setInterval(
    () => {
      if (renewing) return;
      renewing = true;
      deps.claims
        .renew(ticket)
        .then((next) => {
          if (next) ticket = next;
          else lost.abort();
        })
        .catch((error: unknown) => deps.log.warn({ err: error, key: ticket.triggerKey }, "renewing a claim failed"))
        .finally(() => {
          renewing = false;
        });
    },
    Math.max(100, Math.floor(deps.claims.policy.leaseMs / 3)),
  );
  return { ticket: () => ticket, lost: lost.signal, stop: () => clearInterval(timer) };
}

async function hook(
  deps: DeliveryDeps,
  config: WebhookConfig,
  reservation: Reservation,
  ticket: ClaimTicket,
  signal: AbortSignal,
): Promise<ChannelOutcome> {
  const body = JSON.stringify(reservation.payload);
  const outcome = await deliverWebhook(config, body, ticket.triggerKey, signal, deps.now);
  if (outcome.aborted) return { status: "aborted" };
  if (outcome.delivered) {
    deps.metrics.sent.inc({ channel: "hook" });
    deps.metrics.latency.observe({ channel: "hook" }, (deps.now() - reservation.payload.ts) / 1000);
    return { status: "sent" };
  }
  const reason = outcome.permanent ? "permanent" : "exhausted";
  deps.metrics.failed.inc({ channel: "hook", reason });
  await deps.deadLetters.record(ticket.triggerKey, {
    payload: reservation.payload,
    url: config.url,
    attempts: outcome.attempts,
    ...(outcome.lastStatus === undefined ? {} : { lastStatus: outcome.lastStatus }),
    ...(outcome.lastError === undefined ? {} : { lastError: outcome.lastError }),
    at: deps.now(),
  });
  deps.metrics.deadLetters.inc();
  deps.log.warn(
    {
      key: ticket.triggerKey,
      attempts: outcome.attempts,
      lastStatus: outcome.lastStatus,
      lastError: outcome.lastError,
    },
    "webhook dead-lettered",
  );
  return { status: "dead", detail: `${reason} after ${outcome.attempts} tries: ${outcome.lastError ?? ""}` };
}

async function pushAll(
  deps: DeliveryDeps,
  push: WebPushChannel,
  reservation: Reservation,
  subscriptions: PushSubscriptionRecord[],
  signal: AbortSignal,
): Promise<ChannelOutcome> {
  const { payload } = reservation;
  const headers = pushHeaders({ session: payload.session, ...reservation }, deps.now());
  const body = JSON.stringify(payload);
  const results = await Promise.all(subscriptions.map((s) => push.send(s, body, headers, signal)));
  let sent = 0;
  const failures: string[] = [];
  for (const [i, result] of results.entries()) {
    const subscription = subscriptions[i] as PushSubscriptionRecord;
    if (result.outcome === "sent") {
      sent++;
      deps.metrics.sent.inc({ channel: "push" });
      deps.metrics.latency.observe({ channel: "push" }, (deps.now() - payload.ts) / 1000);
    } else if (result.outcome === "gone") {
      deps.metrics.failed.inc({ channel: "push", reason: "gone" });
      if (await deps.subscriptions.remove(payload.user, subscription.id, subscription.revision)) {
        deps.metrics.subscriptionsRemoved.inc();
        deps.log.info(
          { user: payload.user, subscription: subscription.id, status: result.status },
          "push subscription removed",
        );
      }
    } else {
      if (result.reason === "aborted") return { status: "aborted" };
      deps.metrics.failed.inc({ channel: "push", reason: result.reason });
      failures.push(`${subscription.id}: ${result.error}`);
    }
  }
  if (sent > 0) return { status: "sent", ...(failures.length ? { detail: failures.join("; ") } : {}) };
  return { status: "failed", detail: failures.join("; ") || "every subscription is gone" };
}
