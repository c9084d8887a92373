import type uWS from "uWebSockets.js";
import { formatOffset, isDeviceId, isSessionId, ThreadlineError } from "@threadline/protocol";
import { type Capability, can, type Principal } from "../auth.ts";
import type { ConnectionContext } from "../connection-port.ts";
import { isAllowedOrigin } from "../cors.ts";
import type { FeedRegistry } from "../feed-registry.ts";
import type { SessionHistory } from "../session-history.ts";
import { TokenBucket } from "../token-bucket.ts";
import { author, type DataStreams } from "./data-streams.ts";
import { type DsResponse, H } from "./ds-response.ts";
import { DurableStreamError } from "./errors.ts";
import { HttpExchange } from "./http-exchange.ts";
import type { HttpPresence } from "./http-presence.ts";
import { longPoll, nowResponse, type ReadContext, rangeResponse, startSeq } from "./read-ops.ts";
import { parseAppend, parseCreate, parseRead, streamIdOfPath } from "./request-parse.ts";
import { publishToSession } from "./session-publish.ts";
import { serveSse } from "./sse.ts";
import { resolveView, type StreamView, sessionView } from "./stream-views.ts";
import { append, create, remove, type WriteContext } from "./write-ops.ts";

/** Limits and settings of the Durable Streams API (PROTOCOL.md §21.7; env in config.ts). */
export interface DurableStreamSettings {
  /** Path prefix of stream URLs: `<base>/<stream id>`. */
  basePath: string;
  longPollTimeoutMs: number;
  sseMaxMs: number;
  maxBodyBytes: number;
  readMaxBytes: number;
  /** Open long-polls + SSE responses per user on this gateway; above: 429. */
  maxLivePerUser: number;
  /** Writes (PUT, POST, DELETE) per second per user on this gateway, and their burst; above: 429. */
  writesPerSecond: number;
  writeBurst: number;
}

export interface DurableStreamDeps {
  settings: DurableStreamSettings;
  ctx: ConnectionContext;
  data: DataStreams;
  feeds: FeedRegistry;
  history: SessionHistory;
  allowedOrigins: readonly string[] | undefined;
  /** Served over TLS (absolute `Location` URLs use https). */
  secure: boolean;
  /** Presence of devices reading a session log live (PROTOCOL.md §21.10). */
  presence: HttpPresence;
}

const METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS =
  "Authorization, Content-Type, If-None-Match, Stream-Seq, Stream-TTL, Stream-Expires-At, Stream-Closed, Producer-Id, Producer-Epoch, Producer-Seq, Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset, Threadline-Device, Threadline-Session";
const EXPOSE_HEADERS =
  "Stream-Next-Offset, Stream-Cursor, Stream-Up-To-Date, Stream-Closed, Stream-TTL, Stream-Expires-At, Stream-SSE-Data-Encoding, Producer-Epoch, Producer-Seq, Producer-Expected-Seq, Producer-Received-Seq, ETag, Location, Threadline-Epoch";
/**
 * `Threadline-Session: 1` on a request for an id with neither a record nor an
 * event: the id is read as an empty session log (tail 0) and a POST stores
 * its first event, instead of 404 (PROTOCOL.md §21.8). Every session exists
 * for Threadline; Durable Streams clients, which never send it, get 404.
 */
const SESSION_HEADER = "threadline-session";
/** Users whose write buckets are remembered (least recently used first out; a forgotten user starts full). */
const MAX_WRITE_BUCKETS = 10_000;

/**
 * Serves every stream at `<basePath>/<id>` — Threadline session logs and
 * data streams — over HTTP following the Durable Streams protocol
 * (PROTOCOL.md §21). Auth is `Authorization: Bearer <token>` only, with the
 * WebSocket's grants; CORS for the allowed origins.
 */
export function registerDurableStreamRoutes(app: uWS.TemplatedApp, deps: DurableStreamDeps): void {
  const { settings, ctx } = deps;
  const pattern = `${settings.basePath}/*`;
  const live = new Map<string, number>();
  const writes = new Map<string, TokenBucket>();
  const readCtx: ReadContext & { sse: { sseMaxMs: number } } = {
    settings,
    feeds: deps.feeds,
    epoch: () => ctx.epoch(),
    streamState: () => deps.history.streamState(),
    sse: settings,
  };
  const writeCtx: WriteContext = {
    data: deps.data,
    epoch: () => ctx.epoch(),
  };
  const viewDeps = { data: deps.data, history: deps.history, epoch: () => ctx.epoch() };

  const takeWrite = (user: string): boolean => {
    let bucket = writes.get(user);
    if (bucket) writes.delete(user);
    else {
      bucket = new TokenBucket(settings.writesPerSecond, settings.writeBurst);
      if (writes.size >= MAX_WRITE_BUCKETS) writes.delete(writes.keys().next().value!);
    }
    writes.set(user, bucket);
    return bucket.take();
  };

  const handle = (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    let origin = "";
    const exchange = new HttpExchange(res, req, () => ({
      ...responseHeaders(origin, deps.allowedOrigins),
      // The epoch the offsets' first part stands for, so a client turns them into positions (§21.2).
      "Threadline-Epoch": ctx.epoch(),
    }));
    origin = exchange.header("origin");
    if (exchange.method === "OPTIONS") {
      exchange.reply(preflight(origin, deps.allowedOrigins));
      return;
    }
    const needsBody = exchange.method === "PUT" || exchange.method === "POST";
    const body = needsBody ? exchange.body(settings.maxBodyBytes) : Promise.resolve(new Uint8Array());
    void serve(exchange, body).catch((error: unknown) => {
      exchange.reply(errorResponse(error, ctx));
    });
  };

  const serve = async (exchange: HttpExchange, bodyPromise: Promise<Uint8Array | undefined>): Promise<void> => {
    const id = streamIdOfPath(exchange.path, settings.basePath);
    if (id === undefined || !isSessionId(id)) throw new DurableStreamError("NOT_FOUND", "no stream at this path");
    const principal = await authenticate(exchange, ctx);
    const need = (capability: Capability, stream = id) => {
      if (!can(principal, stream, capability))
        throw new DurableStreamError("FORBIDDEN", `not allowed to ${capability} stream ${stream}`);
    };
    const by = author(principal);
    switch (exchange.method) {
      case "HEAD":
      case "GET": {
        need("read");
        const view = await existing(id, exchange);
        if (exchange.method === "HEAD") return exchange.reply(head(view), true);
        return read(exchange, principal, view);
      }
      case "PUT": {
        need("write");
        const request = parseCreate(exchange, settings.basePath);
        if (request.fork) need("read", request.fork.source);
        const body = await bodyPromise;
        if (body === undefined) throw tooLarge();
        limitWrites(principal);
        const location = `${deps.secure ? "https" : "http"}://${exchange.header("host") || "localhost"}${settings.basePath}/${id}`;
        return exchange.reply(await create(writeCtx, id, request, body, by, location));
      }
      case "POST": {
        const body = await bodyPromise;
        if (body === undefined) throw tooLarge();
        const view = await existing(id, exchange);
        if (view.kind === "session") {
          // The publish path's per-user event bucket only tracks users holding a socket: HTTP writers are
          // counted here too.
          limitWrites(principal);
          const device = exchange.header("threadline-device");
          return exchange.reply(
            await publishToSession(ctx, principal, id, body, isDeviceId(device) ? device : undefined),
          );
        }
        need("write");
        const request = parseAppend(exchange);
        limitWrites(principal);
        if (!view.stream) throw new DurableStreamError("NOT_FOUND", `stream ${id} does not exist`);
        return exchange.reply(await append(writeCtx, view.stream, request, body, by));
      }
      case "DELETE": {
        need("write");
        if (principal.kind !== "operator")
          throw new DurableStreamError("FORBIDDEN", "deleting a stream needs role operator or admin");
        const view = await deps.data.load(id);
        if (!view) {
          if ((await deps.data.log.lastSessionSeq(id)) > 0)
            throw new DurableStreamError("METHOD_NOT_ALLOWED", "session logs are not deleted over HTTP");
          throw new DurableStreamError("NOT_FOUND", `stream ${id} does not exist`);
        }
        limitWrites(principal);
        return exchange.reply(await remove(writeCtx, id));
      }
      default:
        throw new DurableStreamError("METHOD_NOT_ALLOWED", `${exchange.method} is not a Durable Streams method`);
    }
  };

  const limitWrites = (principal: Principal): void => {
    if (!takeWrite(principal.user))
      throw new DurableStreamError("RATE_LIMITED", `user ${principal.user} writes too fast (per gateway)`);
  };

  const existing = async (id: string, exchange: HttpExchange): Promise<StreamView> => {
    const view = await resolveView(viewDeps, id);
    if (!view && exchange.header(SESSION_HEADER) === "1") return sessionView(viewDeps, id, 0);
    if (!view) throw new DurableStreamError("NOT_FOUND", `stream ${id} does not exist`);
    if (view.gone) throw new DurableStreamError("GONE", `stream ${id} was deleted`);
    return view;
  };

  const head = (view: StreamView): DsResponse => {
    const next = formatOffset(ctx.epoch(), view.tailSeq);
    const headers: Record<string, string> = {
      "Content-Type": view.contentType,
      [H.NEXT_OFFSET]: next,
      "Cache-Control": "no-store",
      ETag: `"${Buffer.from(view.id).toString("base64url")}:-1:${next}${view.closed ? ":c" : ""}"`,
    };
    if (view.closed) headers[H.CLOSED] = "true";
    if (view.ttlSeconds !== undefined) headers[H.TTL] = String(view.ttlSeconds);
    if (view.expiresAt !== undefined) headers[H.EXPIRES_AT] = view.expiresAt;
    return { status: "200 OK", headers };
  };

  const read = async (exchange: HttpExchange, principal: Principal, view: StreamView): Promise<void> => {
    const request = parseRead(exchange.query);
    // A session log read before its first event (SESSION_HEADER) stays one until the event comes.
    const reload = async () => (await resolveView(viewDeps, view.id)) ?? (view.kind === "session" ? view : undefined);
    if (view.stream) await deps.data.touch(view.stream);
    if (request.live === undefined) {
      if (request.offset === "now") return exchange.reply(nowResponse(readCtx, view));
      const after = await startSeq(readCtx, view, request.offset);
      const result = await view.read(after, { maxBytes: settings.readMaxBytes });
      const ifNoneMatch = exchange.header("if-none-match");
      return exchange.reply(rangeResponse(readCtx, view, result, { ...request, ifNoneMatch, live: false }));
    }
    const count = live.get(principal.user) ?? 0;
    if (count >= settings.maxLivePerUser)
      throw new DurableStreamError("RATE_LIMITED", `at most ${settings.maxLivePerUser} live reads per user`);
    live.set(principal.user, count + 1);
    // A Threadline client's device reading a session live is present in it, like an attached socket.
    const device = exchange.header("threadline-device");
    const present =
      view.kind === "session" && isDeviceId(device)
        ? deps.presence.hold({
            session: view.id,
            kind: principal.kind === "operator" ? "operator" : "user",
            id: principal.user,
            device,
          })
        : undefined;
    try {
      if (request.live === "long-poll") {
        const response = await longPoll(readCtx, view, reload, { ...request, ifNoneMatch: "" }, exchange.abort.signal);
        exchange.reply(response);
      } else {
        await serveSse(readCtx, view, reload, request, exchange.sse(), exchange.abort.signal);
      }
      const after = await deps.data.load(view.id);
      if (after) await deps.data.touch(after);
    } finally {
      present?.();
      const left = (live.get(principal.user) ?? 1) - 1;
      if (left > 0) live.set(principal.user, left);
      else live.delete(principal.user);
    }
  };

  for (const method of ["get", "head", "put", "post", "del", "options"] as const) app[method](pattern, handle);
}

async function authenticate(exchange: HttpExchange, ctx: ConnectionContext): Promise<Principal> {
  const query = new URLSearchParams(exchange.query);
  if (query.has("access_token") || query.has("token"))
    throw new DurableStreamError("AUTH_FAILED", "tokens in the URL are refused; send Authorization: Bearer <token>");
  const authorization = exchange.header("authorization");
  if (!authorization.toLowerCase().startsWith("bearer "))
    throw new DurableStreamError("AUTH_FAILED", "Authorization: Bearer <token> required");
  return ctx.auth.verify(authorization.slice(7).trim());
}

function tooLarge(): DurableStreamError {
  return new DurableStreamError("PAYLOAD_TOO_LARGE", "the request body exceeds the gateway's limit");
}

/** Every response: CORS for an allowed origin, and the browser security headers of Durable Streams §10.7. */
function responseHeaders(origin: string, allowed: readonly string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    Vary: "Origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
  };
  if (isAllowedOrigin(origin, allowed)) {
    headers["Access-Control-Allow-Origin"] = origin;
    headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS;
  }
  return headers;
}

function preflight(origin: string, allowed: readonly string[] | undefined): DsResponse {
  if (origin === "") return { status: "204 No Content", headers: { Allow: METHODS } };
  if (!isAllowedOrigin(origin, allowed))
    return {
      status: "403 Forbidden",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: "FORBIDDEN", message: "origin not allowed", retryable: false }),
    };
  return {
    status: "204 No Content",
    headers: {
      "Access-Control-Allow-Methods": METHODS,
      "Access-Control-Allow-Headers": ALLOW_HEADERS,
      "Access-Control-Max-Age": "600",
    },
  };
}

/** A refusal as a response: typed errors with their status; NATS trouble 503; anything else 500 (logged). */
function errorResponse(error: unknown, ctx: ConnectionContext): DsResponse {
  let e: DurableStreamError;
  if (error instanceof DurableStreamError) e = error;
  else if (error instanceof ThreadlineError) {
    const code =
      error.code === "AUTH_FAILED" || error.code === "TOKEN_EXPIRED"
        ? error.code
        : error.code === "INSUFFICIENT_STATE"
          ? "GONE"
          : error.code === "FORBIDDEN"
            ? "FORBIDDEN"
            : "UNAVAILABLE";
    e = new DurableStreamError(code, error.message, { cause: error });
  } else {
    ctx.log.error({ err: error }, "durable streams request failed");
    return {
      status: "500 Internal Server Error",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: "INTERNAL", message: "internal error", retryable: true }),
    };
  }
  if (e.code === "UNAVAILABLE") ctx.log.warn({ err: error }, "durable streams request failed; answered 503");
  return {
    status: e.status,
    headers: { "Content-Type": "application/json", ...e.headers },
    body: JSON.stringify(e.toBody()),
  };
}
