import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/** Connection counts of a {@link TcpProxy}. */
export interface TcpProxyStats {
  /** Client connections currently forwarded (or stalled). */
  open: number;
  /** Client connections accepted since the start. */
  accepted: number;
  /** Client connections reset by the proxy: by `drop()`, or refused while dropped. */
  reset: number;
}

/** The proxy's mode: forwarding, everything reset and refused, or connections held open without bytes. */
export type TcpProxyMode = "forwarding" | "dropped" | "stalled";

/**
 * A TCP proxy on 127.0.0.1 that forwards a local port to a target and lets a
 * test break the network in between: `drop()` (a network partition that
 * resets every connection and every new one) or `stall()` (a black hole:
 * connections stay open, no byte moves in either direction), then `resume()`.
 *
 * Bytes that arrive while stalled are held (by pausing the sockets: TCP flow
 * control then pushes back on the senders) and flow on after `resume()`,
 * unless a peer gave up and closed meanwhile.
 *
 * `await using proxy = await startTcpProxy(server.port)` closes it at the end of the scope.
 */
export interface TcpProxy extends AsyncDisposable {
  /** The local port to connect to instead of the target. */
  readonly port: number;
  /** `nats://127.0.0.1:<port>`, for NATS clients. */
  readonly url: string;
  readonly mode: TcpProxyMode;
  /** Resets every connection (TCP RST on both sides) and resets new ones at once until `resume()`. */
  drop(): void;
  /** Stops forwarding in both directions; connections stay open and new ones are accepted, but nothing moves until `resume()`. */
  stall(): void;
  /** Forwards again (held bytes flow on). */
  resume(): void;
  stats(): TcpProxyStats;
  /** Resets every connection and stops listening. Idempotent. */
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * Starts a proxy from a free local port to `targetPort` on `targetHost`
 * (default 127.0.0.1). Each accepted connection opens its own connection to
 * the target; either side closing or failing destroys both.
 * @example
 *   const proxy = await startTcpProxy(nats.port);
 *   onTestFinished(() => proxy.close());
 *   const nc = await connect({ servers: proxy.url });
 *   proxy.stall(); // nc's traffic stops; the server and nc both still see an open connection
 */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  const counts = { accepted: 0, reset: 0 };
  let mode: TcpProxyMode = "forwarding";

  const resetPair = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    if (pair.upstream.connecting) pair.upstream.destroy();
    else pair.upstream.resetAndDestroy();
  };
  const pause = (pair: Pair) => {
    pair.client.pause();
    pair.upstream.pause();
  };

  const server: Server = createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
    counts.accepted++;
    if (mode === "dropped") {
      counts.reset++;
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect({ port: targetPort, host: targetHost, noDelay: true });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const close = () => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    forward(client, upstream);
    forward(upstream, client);
    // The client socket starts paused (pauseOnConnect); the upstream flows once it has a data listener.
    if (mode === "stalled") upstream.pause();
    else client.resume();
  });
  /** Copies `from` → `to` with backpressure; a drain never restarts a stalled proxy's flow. */
  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on("drain", () => {
      if (mode === "forwarding") from.resume();
    });
    from.on("end", () => to.end());
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("tcp proxy: no port");
  const port = address.port;

  let closing: Promise<void> | undefined;
  const proxy: TcpProxy = {
    port,
    url: `nats://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    drop() {
      mode = "dropped";
      for (const pair of [...pairs]) {
        counts.reset++;
        resetPair(pair);
      }
    },
    stall() {
      mode = "stalled";
      for (const pair of pairs) pause(pair);
    },
    resume() {
      mode = "forwarding";
      for (const pair of pairs) {
        pair.client.resume();
        pair.upstream.resume();
      }
    },
    stats: () => ({ open: pairs.size, ...counts }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const pair of [...pairs]) resetPair(pair);
        server.close(() => resolve());
      });
      return closing;
    },
    [Symbol.asyncDispose]: () => proxy.close(),
  };
  return proxy;
}
