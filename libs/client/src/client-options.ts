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
import type { WebSocketConstructorLike } from "./websocket-like.ts";

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
}

/** Fills defaults and validates; throws TypeError / RangeError on invalid options (programming errors). */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== "object" || options === null) throw new TypeError("createClient: options are required");
  const urls = typeof options.url === "string" ? [options.url] : [...(options.url ?? [])];
  if (urls.length === 0) throw new TypeError("createClient: url must be a URL or a non-empty list of URLs");
  for (const candidate of urls) {
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      throw new TypeError(`createClient: url ${JSON.stringify(candidate)} is not a valid URL`);
    }
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new TypeError(`createClient: url must use ws: or wss:, got ${url.protocol}`);
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
  const WebSocketCtor =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket ?? undefined;
  if (typeof WebSocketCtor !== "function") {
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
    WebSocket: WebSocketCtor,
    pingIntervalMs,
    httpBases,
  };
}
