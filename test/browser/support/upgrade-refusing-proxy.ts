import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

/** A local HTTP proxy in front of a gateway that passes requests through and refuses WebSocket upgrades. */
export interface UpgradeRefusingProxy {
  /** `ws://127.0.0.1:<port>/v1/ws`: what a page is told its gateway is. */
  wsUrl: string;
  /** How many upgrades it refused. */
  readonly refused: number;
  close(): Promise<void>;
}

/**
 * What a corporate proxy that blocks WebSockets does: every HTTP request
 * (responses streamed as they come, so SSE stays live) goes through to
 * `127.0.0.1:<targetPort>`, every `Upgrade: websocket` is answered
 * `403 Forbidden`.
 */
export async function startUpgradeRefusingProxy(targetPort: number): Promise<UpgradeRefusingProxy> {
  let refused = 0;
  const server = createServer((req, res) => {
    const upstream = request(
      { host: "127.0.0.1", port: targetPort, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (_, socket) => {
    refused++;
    socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    wsUrl: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`,
    get refused() {
      return refused;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
