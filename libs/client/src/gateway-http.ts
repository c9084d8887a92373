import { ErrorCode, isRetryableCode, ThreadlineError } from "@threadline/protocol";

/**
 * The HTTP API base of a gateway WebSocket URL (pure): `ws:` → `http:`,
 * `wss:` → `https:`, same host and port, the path without its `/v1/ws`
 * suffix (so a gateway behind a path prefix keeps it), no query (a token in
 * the URL stays out of HTTP requests), no trailing slash.
 * @example httpBaseOf("wss://gw.example.com/v1/ws") // "https://gw.example.com"
 */
export function httpBaseOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  const scheme = url.protocol === "wss:" || url.protocol === "https:" ? "https:" : "http:";
  const path = url.pathname.replace(/\/v1\/ws\/?$/, "").replace(/\/+$/, "");
  return `${scheme}//${url.host}${path}`;
}

/** What a call of the HTTP API answers when it succeeds. */
export interface HttpReply {
  status: number;
  /** The parsed JSON body; undefined for an empty one (204). */
  json: unknown;
}

export interface HttpCall {
  method: "GET" | "PUT" | "DELETE";
  /** Below the base, starting with `/v1/`. */
  path: string;
  body?: unknown;
  /** Send `Authorization: Bearer <token>` (default true). */
  auth?: boolean;
}

type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/**
 * The gateway's HTTP API over `fetch` (browsers, Node ≥ 18; no Node
 * built-ins). Each call asks the client's token source for a token, times out
 * after `timeoutMs` (`TIMEOUT`), and turns an error answer `{code, message,
 * retryable}` into a `ThreadlineError` with that code (429's `retry-after`
 * is named in the message). A network failure tries the next base (gateway
 * replicas, like the socket's URL list) once each, then rejects with
 * `UNAVAILABLE`; the base that answered is used first next time.
 */
export class GatewayHttp {
  private current = 0;

  constructor(
    private readonly bases: readonly string[],
    private readonly token: () => Promise<string>,
    private readonly timeoutMs: number,
    private readonly fetchImpl: Fetch = (input, init) => globalThis.fetch(input, init),
  ) {
    if (bases.length === 0) throw new TypeError("GatewayHttp: at least one base URL is required");
  }

  async call({ method, path, body, auth = true }: HttpCall): Promise<HttpReply> {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Bearer ${await this.token()}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let failure: unknown;
    for (let tried = 0; tried < this.bases.length; tried++) {
      const index = (this.current + tried) % this.bases.length;
      const url = `${this.bases[index]}${path}`;
      let response: Response;
      try {
        response = await this.fetchImpl(url, {
          method,
          headers,
          ...(payload === undefined ? {} : { body: payload }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        if (isTimeout(error)) {
          throw new ThreadlineError(ErrorCode.TIMEOUT, `${method} ${url}: no answer within ${this.timeoutMs} ms`, {
            cause: error,
          });
        }
        failure = error;
        continue;
      }
      this.current = index;
      return answer(method, url, response);
    }
    throw new ThreadlineError(ErrorCode.UNAVAILABLE, `${method} ${path}: the gateway could not be reached`, {
      cause: failure,
    });
  }
}

async function answer(method: string, url: string, response: Response): Promise<HttpReply> {
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) return { status: response.status, json };
  const wire = json as { code?: unknown; message?: unknown; retryable?: unknown } | undefined;
  const retryAfter = response.headers.get("retry-after");
  const after = retryAfter ? ` (retry after ${retryAfter} s)` : "";
  if (typeof wire?.code === "string") {
    const message = typeof wire.message === "string" ? wire.message : wire.code;
    const retryable = typeof wire.retryable === "boolean" ? wire.retryable : isRetryableCode(wire.code);
    throw ThreadlineError.fromWire({ code: wire.code, message: `${message}${after}`, retryable });
  }
  // Not an answer of the API (a proxy's page, a gateway without the route): only a 5xx may pass.
  const server = response.status >= 500;
  throw new ThreadlineError(
    server ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL,
    `${method} ${url}: unexpected HTTP ${response.status}${after}`,
    { retryable: server },
  );
}

function isTimeout(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "TimeoutError";
}
