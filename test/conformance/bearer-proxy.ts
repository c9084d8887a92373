import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface BearerProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: the gateway as a client without credentials sees it. */
  url: string;
}

/**
 * A minimal local HTTP proxy that adds `Authorization: Bearer <token>` to
 * every request and streams both directions unchanged (SSE included). The
 * Durable Streams conformance suite sends no credentials; the gateway still
 * requires them, so the suite talks to the gateway through this.
 */
export async function startBearerProxy(target: { host: string; port: number }, token: string): Promise<BearerProxy> {
  const server: Server = createServer((incoming, outgoing) => {
    const upstream = request(
      {
        host: target.host,
        port: target.port,
        // A connection per request: a pooled one may be closed by the gateway as idle just as it is reused.
        agent: false,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, authorization: `Bearer ${token}` },
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.statusMessage, response.rawHeaders);
        response.pipe(outgoing);
      },
    );
    upstream.on("error", () => {
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.destroy();
    });
    outgoing.on("close", () => {
      if (!outgoing.writableFinished) upstream.destroy();
    });
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
