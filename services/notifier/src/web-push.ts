import { createHash } from "node:crypto";
import type { Agent } from "node:https";
import type { BackoffPolicy } from "@threadline/protocol";
import { type PushSubscriptionRecord, pushHostAllowed, RetryPolicy, retryDelay, sleep } from "@threadline/store";
import webPush from "web-push";
import type { VapidConfig } from "./config.ts";
import type { Trigger } from "./trigger.ts";

/** Web Push headers of a notification (RFC 8030 §5). */
export interface PushHeaders {
  /** Seconds the push service keeps an undelivered message. */
  ttl: number;
  urgency: "normal" | "high";
  /** Replaces an undelivered older message with the same topic: one per session. */
  topic: string;
}

/** A day: how long a notification is worth delivering to a device that is offline. */
export const DEFAULT_PUSH_TTL_SECONDS = 86_400;

/** `base64url(SHA-256(session))`, first 32 characters: a valid `Topic` whatever the session id (pure). */
export function pushTopic(session: string): string {
  return createHash("sha256").update(session).digest("base64url").slice(0, 32);
}

/** `high` when a burst holds an approval or a tool call (someone waits), else `normal` (pure). */
export function pushUrgency(members: readonly Trigger[]): PushHeaders["urgency"] {
  return members.some((m) => m.kind === "approval" || m.kind === "tool.call") ? "high" : "normal";
}

/**
 * The headers of a notification about `session` at `now` (pure): `TTL` a
 * day, or until `deadline` (the last trigger's call deadline) when that is
 * sooner — an answer after it is refused anyway; `Topic` per session.
 */
export function pushHeaders(
  target: { session: string; urgency: PushHeaders["urgency"]; deadline?: number | undefined },
  now: number,
): PushHeaders {
  const untilDeadline =
    target.deadline === undefined ? DEFAULT_PUSH_TTL_SECONDS : Math.ceil((target.deadline - now) / 1000);
  return {
    ttl: Math.max(0, Math.min(DEFAULT_PUSH_TTL_SECONDS, untilDeadline)),
    urgency: target.urgency,
    topic: pushTopic(target.session),
  };
}

/** How a send to one subscription ended. */
export type PushSendResult =
  | { outcome: "sent"; status: number }
  /** The push service no longer knows the subscription (404/410): remove it. */
  | { outcome: "gone"; status: number }
  | {
      outcome: "failed";
      reason: "refused" | "exhausted" | "host_not_allowed" | "aborted";
      status?: number;
      error: string;
    };

export interface WebPushOptions {
  vapid: VapidConfig;
  allowedHosts: readonly string[];
  /** TLS agent for the push service (tests: the kit's self-signed service). */
  agent?: Agent;
  /** One try's time limit, ms. Default 10000. */
  timeoutMs?: number;
  /** Backoff and tries in all (`maxAttempts`) for network errors, 429 and 5xx. Default `RetryPolicy.push`. */
  policy?: BackoffPolicy;
}

/**
 * Sends encrypted notifications with `web-push` (RFC 8291 aes128gcm, VAPID
 * RFC 8292). A subscription answered 404/410 is `gone`; other 4xx are
 * refused for good; network errors, 429 and 5xx are tried again with
 * backoff up to the policy's `maxAttempts`.
 */
export class WebPushChannel {
  private readonly timeoutMs: number;
  private readonly policy: BackoffPolicy;

  constructor(private readonly options: WebPushOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.policy = options.policy ?? RetryPolicy.push;
  }

  async send(
    subscription: PushSubscriptionRecord,
    body: string,
    headers: PushHeaders,
    signal: AbortSignal,
  ): Promise<PushSendResult> {
    if (!pushHostAllowed(subscription.endpoint, this.options.allowedHosts)) {
      return { outcome: "failed", reason: "host_not_allowed", error: "the push service's host is not allowed" };
    }
    let last: { status?: number; error: string } = { error: "not tried" };
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await webPush.sendNotification(
          { endpoint: subscription.endpoint, keys: subscription.keys },
          body,
          {
            vapidDetails: this.options.vapid,
            TTL: headers.ttl,
            urgency: headers.urgency,
            topic: headers.topic,
            contentEncoding: "aes128gcm",
            timeout: this.timeoutMs,
            ...(this.options.agent ? { agent: this.options.agent } : {}),
          },
        );
        return { outcome: "sent", status: response.statusCode };
      } catch (error) {
        const status = statusOf(error);
        if (status === 404 || status === 410) return { outcome: "gone", status };
        last = { ...(status === undefined ? {} : { status }), error: messageOf(error, status) };
        const retryable = status === undefined || status === 429 || status >= 500;
        if (!retryable) return { outcome: "failed", reason: "refused", ...last };
      }
      if (attempt >= this.policy.maxAttempts) return { outcome: "failed", reason: "exhausted", ...last };
      await sleep(retryDelay(attempt, this.policy), signal);
      if (signal.aborted) return { outcome: "failed", reason: "aborted", ...last };
    }
  }
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

function messageOf(error: unknown, status: number | undefined): string {
  if (status !== undefined) return `HTTP ${status}`;
  return error instanceof Error ? error.message : String(error);
}
