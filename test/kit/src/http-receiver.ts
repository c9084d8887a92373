import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";

/** A request body larger than the receiver's limit. */
export class BodyTooLarge extends Error {}

/** Reads the whole body; rejects with {@link BodyTooLarge} past `limit` bytes (and stops reading). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new BodyTooLarge(`body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Plain header map (lower-case names, repeated headers joined with ", "). */
export function headerMap(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

export interface Listening {
  server: Server;
  /** `http://127.0.0.1:<port>` (`https://` with `tls`) */
  origin: string;
  port: number;
  /** Stops listening and drops open connections (keep-alive included). Idempotent. */
  close(): Promise<void>;
}

/** An HTTP server (HTTPS with `tls`) on 127.0.0.1, port 0. A handler that throws answers 500. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  tls?: { cert: string; key: string },
): Promise<Listening> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: String(error) });
      else res.destroy();
    });
  };
  const server: Server = tls === undefined ? createServer(onRequest) : createTlsServer(tls, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("http receiver: no port");
  let closing: Promise<void> | undefined;
  return {
    server,
    port: address.port,
    origin: `${tls === undefined ? "http" : "https"}://127.0.0.1:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** A request header's (first) value. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
