import { createServer, type Server } from "node:net";

/**
 * A TCP port that was free on `host` a moment ago (the OS picks it). Another
 * process can take it before it is used, so whoever binds it must handle
 * EADDRINUSE (the kit's server launcher retries with fresh ports).
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const [port] = await freePorts(1, host);
  return port as number;
}

/** `count` distinct free ports: all are held open together, then released. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(await listen(server, host));
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address && typeof address === "object") resolve(address.port);
      else reject(new Error(`could not read the bound port on ${host}`));
    });
  });
}
