import type uWS from "uWebSockets.js";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import {
  MAX_USER_AGENT_LENGTH,
  type NotificationPreferences,
  type NotificationPrefs,
  normalizeNotificationPrefs,
  notificationPrefsProblem,
  PushStoreError,
  type PushSubscriptionInput,
  type PushSubscriptionMeta,
  type PushSubscriptions,
  pushHostAllowed,
  pushSubscriptionProblem,
} from "@threadline/store";
import { Counter } from "prom-client";
import type { Authenticator, Principal } from "./auth.ts";
import type { GatewayConfig } from "./config.ts";
import { corsPreflight } from "./cors.ts";
import { HttpWriteLimiter } from "./http-write-limiter.ts";
import { bearerPrincipal, type JsonAnswer, type JsonRequest, jsonRoute, RetryAfterError } from "./json-route.ts";
import type { Logger } from "./logger.ts";
import type { GatewayMetrics } from "./metrics.ts";

/** Largest request body the push routes read (a subscription is ~0.5 KiB, preferences ≤ ~6 KiB). */
export const PUSH_MAX_BODY_BYTES = 8 * 1024;
/** Methods a preflight for the push routes allows. */
export const PUSH_CORS_METHODS = "GET, PUT, DELETE, OPTIONS";
/** Compare-and-set rounds of an unconditional preferences write before it answers `UNAVAILABLE`. */
const PREFERENCES_WRITE_ROUNDS = 5;

export interface PushRoutesDeps {
  config: Pick<GatewayConfig, "allowedOrigins" | "vapidPublicKey" | "pushAllowedHosts" | "httpWriteLimits">;
  auth: Authenticator;
  subscriptions: PushSubscriptions;
  preferences: NotificationPreferences;
  metrics: GatewayMetrics;
  log: Logger;
}

/**
 * The offline-delivery routes of the HTTP API (PROTOCOL.md §20): the VAPID
 * public key, a user's Web Push subscriptions and notification preferences.
 * Every route but the VAPID key takes `Authorization: Bearer <token>` (any
 * valid token; the user is its `sub`); writes take one token of the user's
 * write budget (429 `RATE_LIMITED` + `retry-after` when empty); bodies are
 * JSON of at most {@link PUSH_MAX_BODY_BYTES}. Endpoints outside
 * `pushAllowedHosts` are refused before anything is stored (SSRF defence).
 * Register before the catch-all 404.
 */
export function registerPushRoutes(app: uWS.TemplatedApp, deps: PushRoutesDeps): void {
  const { config, auth, subscriptions, preferences, log } = deps;
  const registry = deps.metrics.registry;
  const registrations = new Counter({
    name: "threadline_gateway_push_registrations_total",
    help: "PUT /v1/push/subscriptions by result: created, existing (re-registration), invalid, host_not_allowed",
    labelNames: ["result"],
    registers: [registry],
  });
  const unregistrations = new Counter({
    name: "threadline_gateway_push_unregistrations_total",
    help: "Push subscriptions removed by DELETE /v1/push/subscriptions/<id>",
    registers: [registry],
  });
  const limited = new Counter({
    name: "threadline_gateway_http_writes_limited_total",
    help: "HTTP API writes refused by the per-user write budget (429)",
    registers: [registry],
  });
  const limiter = new HttpWriteLimiter(config.httpWriteLimits);
  const origins = config.allowedOrigins;

  /** The writer's principal, or throws: 401 without a valid token, 429 past the user's write budget. */
  const writer = async (request: JsonRequest): Promise<Principal> => {
    const principal = await bearerPrincipal(auth, request.authorization);
    const waitMs = limiter.take(principal.user);
    if (waitMs > 0) {
      limited.inc();
      throw new RetryAfterError(
        new ThreadlineError(ErrorCode.RATE_LIMITED, "too many writes; retry after the time in retry-after"),
        waitMs,
      );
    }
    return principal;
  };
  const route = (what: string, handle: (request: JsonRequest) => Promise<JsonAnswer>, params = 0) =>
    jsonRoute({ allowedOrigins: origins, log, what, params }, handle);
  const bodyRoute = (what: string, invalid: ErrorCode, handle: (request: JsonRequest) => Promise<JsonAnswer>) =>
    jsonRoute({ allowedOrigins: origins, log, what, body: { maxBytes: PUSH_MAX_BODY_BYTES, invalid } }, handle);

  const preflight = corsPreflight(origins, PUSH_CORS_METHODS);
  for (const path of [
    "/v1/push/vapid-public-key",
    "/v1/push/subscriptions",
    "/v1/push/subscriptions/:id",
    "/v1/notifications/preferences",
  ]) {
    app.options(path, preflight);
  }

  // Public: the page needs it before it can subscribe. 404 PUSH_DISABLED when the deployment has no VAPID keys.
  app.get(
    "/v1/push/vapid-public-key",
    route("vapid public key", async () => {
      if (config.vapidPublicKey === undefined) {
        throw new ThreadlineError(ErrorCode.PUSH_DISABLED, "Web Push is not configured on this gateway");
      }
      return { status: 200, body: { publicKey: config.vapidPublicKey } };
    }),
  );

  app.put(
    "/v1/push/subscriptions",
    bodyRoute("push subscription", ErrorCode.INVALID_SUBSCRIPTION, async (request) => {
      const { user } = await writer(request);
      const { subscription, device } = asObject(request.body, ErrorCode.INVALID_SUBSCRIPTION);
      const problem = pushSubscriptionProblem(subscription);
      if (problem) {
        registrations.inc({ result: "invalid" });
        throw new ThreadlineError(ErrorCode.INVALID_SUBSCRIPTION, `invalid push subscription: ${problem}`);
      }
      const { endpoint } = subscription as PushSubscriptionInput;
      if (!pushHostAllowed(endpoint, config.pushAllowedHosts)) {
        registrations.inc({ result: "host_not_allowed" });
        throw new ThreadlineError(
          ErrorCode.PUSH_HOST_NOT_ALLOWED,
          `push endpoints at ${new URL(endpoint).host} are not accepted by this deployment`,
        );
      }
      const userAgent = request.userAgent.slice(0, MAX_USER_AGENT_LENGTH);
      const meta = { ...(userAgent ? { userAgent } : {}), ...(device === undefined ? {} : { device }) };
      const result = await storeCall(() =>
        subscriptions.register(user, subscription as PushSubscriptionInput, meta as PushSubscriptionMeta),
      ).catch((error: unknown) => {
        if (error instanceof ThreadlineError && error.code === ErrorCode.INVALID_SUBSCRIPTION) {
          registrations.inc({ result: "invalid" });
        }
        throw error;
      });
      registrations.inc({ result: result.created ? "created" : "existing" });
      return { status: result.created ? 201 : 200, body: result };
    }),
  );

  app.get(
    "/v1/push/subscriptions",
    route("push subscriptions", async (request) => {
      const { user } = await bearerPrincipal(auth, request.authorization);
      const records = await storeCall(() => subscriptions.list(user));
      return {
        status: 200,
        body: {
          subscriptions: records.map((r) => ({
            id: r.id,
            endpointOrigin: new URL(r.endpoint).origin,
            createdAt: r.createdAt,
            registeredAt: r.registeredAt,
            ...(r.device === undefined ? {} : { device: r.device }),
            ...(r.userAgent === undefined ? {} : { userAgent: r.userAgent }),
          })),
        },
      };
    }),
  );

  // Idempotent: 204 whether or not the user had that subscription (an id of another user is simply not theirs).
  app.del(
    "/v1/push/subscriptions/:id",
    route(
      "push subscription removal",
      async (request) => {
        const { user } = await writer(request);
        if (await storeCall(() => subscriptions.unregister(user, request.params[0] ?? ""))) unregistrations.inc();
        return { status: 204 };
      },
      1,
    ),
  );

  app.get(
    "/v1/notifications/preferences",
    route("notification preferences", async (request) => {
      const { user } = await bearerPrincipal(auth, request.authorization);
      const { value, revision } = await storeCall(() => preferences.get(user));
      return { status: 200, body: { preferences: value, revision } };
    }),
  );

  app.put(
    "/v1/notifications/preferences",
    bodyRoute("notification preferences", ErrorCode.INVALID_PREFERENCES, async (request) => {
      const { user } = await writer(request);
      const { preferences: prefs, revision } = asObject(request.body, ErrorCode.INVALID_PREFERENCES);
      const problem = notificationPrefsProblem(prefs);
      if (problem) throw new ThreadlineError(ErrorCode.INVALID_PREFERENCES, `invalid preferences: ${problem}`);
      if (revision !== undefined && !(Number.isSafeInteger(revision) && (revision as number) >= 0)) {
        throw new ThreadlineError(ErrorCode.INVALID_PREFERENCES, "revision must be a non-negative integer");
      }
      const value = prefs as NotificationPrefs;
      const stored = await storeCall(() => writePreferences(preferences, user, value, revision as number | undefined));
      return { status: 200, body: { preferences: normalizeNotificationPrefs(value), revision: stored } };
    }),
  );
}

/**
 * `revision` given: one compare-and-set (409 `PREFERENCES_CONFLICT` when
 * another device wrote first). Not given: last writer wins, as a few rounds of
 * read-revision-then-set. Resolves to the new revision.
 */
async function writePreferences(
  store: NotificationPreferences,
  user: string,
  prefs: NotificationPrefs,
  revision: number | undefined,
): Promise<number> {
  if (revision !== undefined) {
    const stored = await store.set(user, prefs, revision);
    if (stored === undefined) {
      throw new ThreadlineError(
        ErrorCode.PREFERENCES_CONFLICT,
        `the preferences changed since revision ${revision}; read them again and reapply the change`,
      );
    }
    return stored;
  }
  for (let round = 0; round < PREFERENCES_WRITE_ROUNDS; round++) {
    const stored = await store.set(user, prefs, (await store.get(user)).revision);
    if (stored !== undefined) return stored;
  }
  throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the preferences kept changing while they were written; retry");
}

/** The body as an object, or the route's `invalid` error. */
function asObject(body: unknown, invalid: ErrorCode): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ThreadlineError(invalid, "the request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** The store's input errors as the route's wire errors (the codes are the same strings). */
async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof PushStoreError)) throw error;
    const code =
      error.code === "INVALID_SUBSCRIPTION" || error.code === "INVALID_PREFERENCES" ? error.code : ErrorCode.INTERNAL;
    throw new ThreadlineError(code, error.message, { cause: error });
  }
}
