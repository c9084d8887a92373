/** The `transport` option: which ways of carrying sessions the client may use (PROTOCOL.md §21.10). */
export type TransportMode = "auto" | "websocket" | "http";

/** What carries a connection: a WebSocket (`/v1/ws`) or HTTP (`/v1/stream`, Durable Streams). */
export type Transport = "websocket" | "http";

/**
 * How a connection attempt ended, as the transport choice sees it:
 * - `unreachable`: the WebSocket never opened (the upgrade was refused, the
 *   host did not answer), or HTTP never got an answer from the gateway;
 * - `stalled`: the WebSocket opened but no `welcome` came in time (a proxy
 *   that accepts the upgrade and then holds the frames);
 * - `lost`: the connection worked (welcomed, or the gateway itself closed
 *   it with a code) and then ended.
 */
export type AttemptOutcome = "unreachable" | "stalled" | "lost";

/**
 * How a connection that ended did, from what the client saw (pure):
 * welcomed → `lost`; never reached (no upgrade, no HTTP answer) →
 * `unreachable`; reached but the welcome timer fired → `stalled`; reached
 * and closed before `welcome` — by the gateway (a Threadline close code,
 * 4000–4999: auth, limits) → `lost`, by anything else (a middlebox that
 * accepted the upgrade and dropped it: 1000, 1005, 1006, …) → `unreachable`.
 * @example attemptOutcome({ welcomed: false, reached: true, stalled: false, code: 1006 }) // "unreachable"
 */
export function attemptOutcome(seen: {
  welcomed: boolean;
  reached: boolean;
  stalled: boolean;
  code: number;
}): AttemptOutcome {
  if (seen.welcomed) return "lost";
  if (!seen.reached) return "unreachable";
  if (seen.stalled) return "stalled";
  return seen.code >= 4000 && seen.code <= 4999 ? "lost" : "unreachable";
}

export interface AttemptEnd {
  transport: Transport;
  outcome: AttemptOutcome;
}

export interface TransportPlan {
  transport: Transport;
  /** Connect at once instead of after the reconnect backoff (the fallback to HTTP). */
  immediate: boolean;
}

/**
 * The transport of the next connection attempt (pure).
 *
 * `"websocket"` and `"http"` always use theirs. `"auto"` starts on the
 * WebSocket; a WebSocket that could not be reached or stalled falls back to
 * HTTP **at once** (within `fallbackAfterMs` of starting); one that worked
 * and was lost is tried again (with backoff: a gateway restart is not a
 * blocked network). On HTTP the client stays on HTTP — the WebSocket probe
 * (`webSocketRetry`) moves it back — unless HTTP could not reach the gateway
 * either: then the next attempt is the WebSocket again, so during an outage
 * attempts alternate and whichever works first when the gateway returns wins.
 * While the browser reports no network (`online` false: `navigator.onLine`),
 * the transport stays what it was, with backoff.
 * @example nextTransport("auto", { transport: "websocket", outcome: "stalled" }) // { transport: "http", immediate: true }
 */
export function nextTransport(mode: TransportMode, last: AttemptEnd | undefined, online = true): TransportPlan {
  if (mode !== "auto") return { transport: mode, immediate: false };
  if (last === undefined) return { transport: "websocket", immediate: false };
  // A socket that failed while the device has no network says nothing about proxies.
  if (!online) return { transport: last.transport, immediate: false };
  if (last.transport === "websocket") {
    return last.outcome === "lost"
      ? { transport: "websocket", immediate: false }
      : { transport: "http", immediate: true };
  }
  return { transport: last.outcome === "unreachable" ? "websocket" : "http", immediate: false };
}

/**
 * Whether a connection on `transport` should run WebSocket probes
 * (`"auto"` on HTTP only): a probe that is welcomed replaces the HTTP
 * connection, every session resuming from its position.
 */
export function probesWebSocket(mode: TransportMode, transport: Transport): boolean {
  return mode === "auto" && transport === "http";
}

/**
 * How long a WebSocket attempt waits for `welcome` before it counts as
 * stalled: `fallbackAfterMs` in `"auto"` (never more than the request
 * timeout), the request timeout otherwise.
 */
export function welcomeTimeoutMs(
  mode: TransportMode,
  transport: Transport,
  requestTimeoutMs: number,
  fallbackAfterMs: number,
): number {
  return mode === "auto" && transport === "websocket" ? Math.min(requestTimeoutMs, fallbackAfterMs) : requestTimeoutMs;
}
