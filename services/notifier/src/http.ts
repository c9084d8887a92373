import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** The notifier's HTTP side: `/healthz` (200 while `healthy()`, else 503) and `/metrics` (Prometheus). */
export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `port` (0: any free port). */
export async function startHealthServer(
  port: number,
  registry: Registry,
  healthy: () => boolean,
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === "/healthz" || req.url === "/readyz") {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok" : "not ready");
    } else if (req.url === "/metrics") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
        () => res.writeHead(500).end("metrics failed"),
      );
    } else res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
