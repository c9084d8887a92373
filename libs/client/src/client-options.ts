import {
  type BackoffOptions,
  type BackoffPolicy,
  type Encoding,
  isDeviceId,
  newId,
  resolveBackoff,
} from "@threadline/protocol";
import { httpBaseOf } from "./gateway-http.ts";
import { memoryStorage, type PositionStorage } from "./position-storage.ts";
import type { TransportMode } from "./transport-choice.ts";
import type { WebSocketConstructorLike } from "./websocket-like.ts";

/** A `fetch` function (the global one in browsers and Node ≥ 18). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Default of `fallbackAfterMs`: how long `auto` waits for a WebSocket `welcome` before using HTTP (HTTP is up within 3 s). */
export const DEFAULT_FALLBACK_AFTER_MS = 2_500;
/** Default WebSocket retry while `auto` runs on HTTP: 30 s doubling to 5 min, ±20 %. */
export const DEFAULT_WEBSOCKET_RETRY: BackoffOptions = {
  initialDelayMs: 30_000,
  maxDelayMs: 300_000,
  factor: 2,
  jitter: 0.2,
};

export interface ClientOptions {
  /**
   * Gateway endpoint, `ws[s]://host:port/v1/ws`, or several (gateway
   * replicas without a load balancer): each reconnect attempt moves on to the
   * next URL, so a client of a dead or draining gateway resumes on another.
   */
  url: string | readonly string[];
  /**
   * JWT, or a function returning one. A function is called before every
   * (re)connect, so it can return a fresh token; when it throws, the attempt
   * counts as failed and is retried with backoff — unless it throws a
   * ThreadlineError with `retryable: false`, which closes the client.
   */
  token: string | (() => string | Promise<string>);
  /** Stable device id (`[A-Za-z0-9_-]{1,64}`, the server-side cursor key). Default: random per client instance. */
  device?: string;
  /** Frame encoding: msgpack in binary frames (default) or JSON in text frames (for debugging). */
  encoding?: Encoding;
  /** Where positions are kept between attaches. Default `memoryStorage()` (per client). */
  storage?: PositionStorage;
  /** Reconnect backoff. Defaults: 250 ms doubling to 10 s, ±50 % jitter, no attempt limit. */
  reconnect?: BackoffOptions;
  /** Time to wait for `welcome` and for replies to attach/detach/publish/ping. Default 10000 ms. */
  requestTimeoutMs?: number;
  /** WebSocket constructor. Default `globalThis.WebSocket`; in Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructorLike;
  /**
   * Interval of app-level `ping`s that detect dead sockets: no `pong` within
   * `requestTimeoutMs` → the socket is dropped and the client reconnects.
   * Default 20000 ms; 0 disables.
   */
  pingIntervalMs?: number;
  /**
   * How sessions are carried (PROTOCOL.md §21.10). `"auto"` (default): the
   * WebSocket, and HTTP (Durable Streams: catch-up GET, SSE live reads, POST
   * writes) when the upgrade is refused or no `welcome` comes within
   * `fallbackAfterMs`; while on HTTP it tries the WebSocket again
   * (`webSocketRetry`) and moves back once one is welcomed. `"websocket"`:
   * never HTTP. `"http"`: never a WebSocket (`url` may then be `http[s]:`).
   * Positions carry across transports, so delivery stays exactly-once.
   */
  transport?: TransportMode;
  /** `auto`: how long a WebSocket may take to be welcomed before the client falls back to HTTP. Default 2500 ms (connected over HTTP within 3 s). */
  fallbackAfterMs?: number;
  /** `auto` on HTTP: when to try the WebSocket again. Default 30 s doubling to 5 min, ±20 %, no attempt limit. */
  webSocketRetry?: BackoffOptions;
  /** `fetch` used by the HTTP transport. Default `globalThis.fetch`. */
  fetch?: FetchLike;
  /**
   * Base URL of the gateway's HTTP API (`client.notifications`), e.g.
   * `https://gw.example.com`. Default: derived from each `url` (`ws:` →
   * `http:`, `wss:` → `https:`, same host, the path without `/v1/ws`).
   */
  httpUrl?: string;
}

export interface ResolvedClientOptions {
  /** One or more endpoints, tried in turn. */
  urls: readonly string[];
  token: () => Promise<string>;
  /** Whether `token` was given as a function (a fresh token can be obtained after an expiry). */
  tokenRefreshable: boolean;
  device: string;
  encoding: Encoding;
  storage: PositionStorage;
  reconnect: BackoffPolicy;
  requestTimeoutMs: number;
  WebSocket: WebSocketConstructorLike;
  pingIntervalMs: number;
  /** HTTP API bases, tried in turn on network failures: `httpUrl`, else one per `urls` entry. */
  httpBases: readonly string[];
  transport: TransportMode;
  fallbackAfterMs: number;
  webSocketRetry: BackoffPolicy;
  fetch: FetchLike;
}

/** Fills defaults and validates; throws TypeError / RangeError on invalid options (programming errors). */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== "object" || options === null) throw new TypeError("createClient: options are required");
  const urls = typeof options.url === "string" ? [options.url] : [...(options.url ?? [])];
  if (urls.length === 0) throw new TypeError("createClient: url must be a URL or a non-empty list of URLs");
  const transport = options.transport ?? "auto";
  if (transport !== "auto" && transport !== "websocket" && transport !== "http") {
    throw new TypeError('createClient: transport must be "auto", "websocket" or "http"');
  }
  const schemes = transport === "http" ? ["ws:", "wss:", "http:", "https:"] : ["ws:", "wss:"];
  for (const candidate of urls) {
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      throw new TypeError(`createClient: url ${JSON.stringify(candidate)} is not a valid URL`);
    }
    if (!schemes.includes(url.protocol)) {
      throw new TypeError(`createClient: url must use ${schemes.join(" or ")}, got ${url.protocol}`);
    }
  }
  const token = options.token;
  if (typeof token !== "string" && typeof token !== "function") {
    throw new TypeError("createClient: token must be a string or a function returning one");
  }
  const device = options.device ?? newId();
  if (!isDeviceId(device)) throw new TypeError("createClient: device must match [A-Za-z0-9_-]{1,64}");
  const encoding = options.encoding ?? "msgpack";
  if (encoding !== "msgpack" && encoding !== "json")
    throw new TypeError('createClient: encoding must be "msgpack" or "json"');
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  if (!(requestTimeoutMs > 0)) throw new RangeError("createClient: requestTimeoutMs must be > 0");
  const pingIntervalMs = options.pingIntervalMs ?? 20_000;
  if (!(pingIntervalMs >= 0)) throw new RangeError("createClient: pingIntervalMs must be ≥ 0");
  const fallbackAfterMs = options.fallbackAfterMs ?? DEFAULT_FALLBACK_AFTER_MS;
  if (!(fallbackAfterMs > 0)) throw new RangeError("createClient: fallbackAfterMs must be > 0");
  const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
  // Called through a wrapper: browsers refuse `fetch` called as a method of another object ("Illegal invocation").
  const fetchImpl: FetchLike | undefined =
    options.fetch ?? (typeof globalFetch === "function" ? (input, init) => globalThis.fetch(input, init) : undefined);
  if (transport !== "websocket" && typeof fetchImpl !== "function") {
    throw new TypeError('createClient: no global fetch for the HTTP transport; pass one, or transport: "websocket"');
  }
  const WebSocketCtor =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket ?? undefined;
  if (typeof WebSocketCtor !== "function" && transport !== "http") {
    throw new TypeError(
      'createClient: no global WebSocket; pass one, e.g. `import WebSocket from "ws"` and `createClient({ WebSocket, … })`',
    );
  }
  let httpBases = urls.map(httpBaseOf);
  if (options.httpUrl !== undefined) {
    let http: URL | undefined;
    try {
      http = new URL(options.httpUrl);
    } catch {
      http = undefined;
    }
    if (!http || (http.protocol !== "http:" && http.protocol !== "https:")) {
      throw new TypeError(`createClient: httpUrl must be an http(s) URL, got ${JSON.stringify(options.httpUrl)}`);
    }
    httpBases = [options.httpUrl.replace(/\/+$/, "")];
  }
  return {
    urls,
    token: typeof token === "string" ? () => Promise.resolve(token) : async () => token(),
    tokenRefreshable: typeof token === "function",
    device,
    encoding,
    storage: options.storage ?? memoryStorage(),
    reconnect: resolveBackoff(options.reconnect),
    requestTimeoutMs,
    WebSocket: WebSocketCtor ?? unavailableWebSocket,
    pingIntervalMs,
    httpBases,
    transport,
    fallbackAfterMs,
    webSocketRetry: resolveBackoff({ ...DEFAULT_WEBSOCKET_RETRY, ...options.webSocketRetry }),
    fetch: fetchImpl ?? unavailableFetch,
  };
}

/** Stand-in for a WebSocket constructor under `transport: "http"` without one (never called). */
const unavailableWebSocket = class {
  constructor() {
    throw new TypeError("no WebSocket constructor");
  }
} as unknown as WebSocketConstructorLike;

/** Stand-in for `fetch` under `transport: "websocket"` without one (never called). */
const unavailableFetch: FetchLike = () => Promise.reject(new TypeError("no fetch"));
