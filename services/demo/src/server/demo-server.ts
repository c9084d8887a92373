import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, resolve, sep } from "node:path";
import { SignJWT } from "jose";

/**
 * The demo's web server: serves the built app (`vite build` output) and a few
 * development-only endpoints. **Not for production**: `/api/token` hands out
 * a signed token for any user id to anyone who asks — real deployments mint
 * tokens in their own backend after logging the user in.
 *
 * - `GET /api/config` → `{ gatewayUrl }`: where the browser opens its WebSocket.
 * - `GET /api/token?user=<id>&role=user|operator` → `{ token }` (HS256 with the
 *   local stack's secret, 1 h, grant on every session).
 * - `GET /api/presence/<session>` → the gateway's member snapshot
 *   (`GET /v1/sessions/:id/presence`), fetched with an operator token, for
 *   the operator console's session list.
 * - `GET /api/control/<session>` → the session's owner entry
 *   (`GET /v1/sessions/:id/control`), likewise: the list shows who handles a
 *   conversation and clears "asks for a human" once it was handed back.
 * - anything else: a file of the build (`/sw.js` is the service worker), or
 *   `index.html` for app routes (the app routes `/` to the customer view and
 *   `/operator` to the operator console); a missing file with an extension
 *   (a script, `sw.js`) is a 404.
 */
export interface DemoServerOptions {
  /** The `vite build` output directory. */
  root: string;
  /** Gateway WebSocket URL given to browsers. */
  gatewayUrl: string;
  /** Gateway HTTP base URL (presence snapshots). */
  gatewayHttpUrl: string;
  /** The gateway's HS256 secret. */
  secret: string;
  port?: number;
  host?: string;
}

export interface DemoServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".ico": "image/x-icon",
};
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const TOKEN_TTL_SECONDS = 3600;

export async function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  const root = resolve(options.root);
  const key = new TextEncoder().encode(options.secret);
  const mint = (user: string, role: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ role, grants: [{ session: "*", can: ["read", "write", "control"] }] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(user)
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_TTL_SECONDS)
      .sign(key);
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://demo");
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method not allowed" });
    if (url.pathname === "/api/config") return json(res, 200, { gatewayUrl: options.gatewayUrl });
    if (url.pathname === "/api/token") {
      const user = url.searchParams.get("user") ?? "";
      const role = url.searchParams.get("role") ?? "user";
      if (!ID.test(user)) return json(res, 400, { error: "user must match [A-Za-z0-9_-]{1,128}" });
      if (role !== "user" && role !== "operator") return json(res, 400, { error: "role must be user or operator" });
      return json(res, 200, { token: await mint(user, role) });
    }
    const read = /^\/api\/(presence|control)\/([A-Za-z0-9_-]{1,128})$/.exec(url.pathname);
    if (read) {
      const upstream = await fetch(`${options.gatewayHttpUrl}/v1/sessions/${read[2]}/${read[1]}`, {
        headers: { authorization: `Bearer ${await mint("demo-console", "operator")}` },
      });
      res.writeHead(upstream.status, { "content-type": "application/json", "cache-control": "no-store" });
      return res.end(await upstream.text());
    }
    if (url.pathname.startsWith("/api/")) return json(res, 404, { error: "not found" });
    // The app's icon is inline (index.html); browsers still ask for this one on documents that name none.
    if (url.pathname === "/favicon.ico") return res.writeHead(204, { "cache-control": "public, max-age=86400" }).end();
    // Static files; unknown paths get the app shell.
    let file = normalize(join(root, decodeURIComponent(url.pathname)));
    if (file !== root && !file.startsWith(root + sep)) return json(res, 400, { error: "bad path" });
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      // A missing file of the build (a script, a style, sw.js) is a 404: only app routes get the shell.
      if (extname(file) !== "" && extname(file) !== ".html") return json(res, 404, { error: "not found" });
      file = join(root, "index.html");
    }
    const cache = file.includes(`${join(root, "assets")}`) ? "public, max-age=31536000, immutable" : "no-cache";
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": cache });
    if (req.method === "HEAD") return res.end();
    createReadStream(file)
      .on("error", () => res.destroy())
      .pipe(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 502, { error: error instanceof Error ? error.message : String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
