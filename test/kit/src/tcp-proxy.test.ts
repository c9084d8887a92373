import { once } from "node:events";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { connect } from "@nats-io/transport-node";
import { expect, onTestFinished, test } from "vitest";
import { startNatsServer } from "./nats-server.ts";
import { startTcpProxy } from "./tcp-proxy.ts";
import { waitFor } from "./wait-for.ts";

/** An echo server on a random port; closes every socket at the end of the test. */
async function startEcho(): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s)).on("error", () => {});
    s.pipe(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as { port: number }).port };
}

/** A client socket through the proxy that collects what it receives and how it ended. */
async function dial(port: number) {
  const socket = tcpConnect({ port, host: "127.0.0.1" });
  onTestFinished(() => {
    socket.destroy();
  });
  const state = { received: "", error: undefined as NodeJS.ErrnoException | undefined, closed: false };
  socket.setEncoding("utf8").on("data", (chunk: string) => {
    state.received += chunk;
  });
  socket.on("error", (error) => {
    state.error = error;
  });
  socket.on("close", () => {
    state.closed = true;
  });
  await once(socket, "connect");
  return { socket, state };
}

test("forwards bytes both ways and counts connections", async () => {
  const echo = await startEcho();
  const proxy = await startTcpProxy(echo.port);
  onTestFinished(() => proxy.close());
  const a = await dial(proxy.port);
  const b = await dial(proxy.port);
  a.socket.write("hello");
  b.socket.write("world");
  await waitFor(() => a.state.received === "hello" && b.state.received === "world");
  expect(proxy.stats()).toEqual({ open: 2, accepted: 2, reset: 0 });
  a.socket.end();
  await waitFor(() => proxy.stats().open === 1);
});

test("drop() resets open connections and every new one until resume()", async () => {
  const echo = await startEcho();
  const proxy = await startTcpProxy(echo.port);
  onTestFinished(() => proxy.close());
  const before = await dial(proxy.port);
  before.socket.write("x");
  await waitFor(() => before.state.received === "x");

  proxy.drop();
  expect(proxy.mode).toBe("dropped");
  await waitFor(() => before.state.closed);
  expect(before.state.error?.code).toBe("ECONNRESET");
  const during = tcpConnect({ port: proxy.port, host: "127.0.0.1" });
  const duringError = new Promise<NodeJS.ErrnoException>((resolve) => during.once("error", resolve));
  onTestFinished(() => {
    during.destroy();
  });
  expect((await duringError).code).toBe("ECONNRESET");
  expect(proxy.stats()).toMatchObject({ open: 0, accepted: 2, reset: 2 });

  proxy.resume();
  const after = await dial(proxy.port);
  after.socket.write("again");
  await waitFor(() => after.state.received === "again");
});

test("stall() holds bytes in both directions without closing; resume() delivers them", async () => {
  const echo = await startEcho();
  const proxy = await startTcpProxy(echo.port);
  onTestFinished(() => proxy.close());
  const c = await dial(proxy.port);
  c.socket.write("a");
  await waitFor(() => c.state.received === "a");

  proxy.stall();
  c.socket.write("b");
  // A connection opened while stalled is accepted and held too.
  const late = await dial(proxy.port);
  late.socket.write("late");
  // Nothing may arrive while stalled: a bounded observation window, not synchronisation.
  await expect(
    waitFor(() => c.state.received !== "a" || late.state.received !== "", { timeoutMs: 300 }),
  ).rejects.toThrow();
  expect(c.state.closed).toBe(false);
  expect(proxy.stats()).toMatchObject({ open: 2, reset: 0 });

  proxy.resume();
  await waitFor(() => c.state.received === "ab" && late.state.received === "late");
});

test("a NATS client through a stalled proxy gets no replies; after resume() it works again", async () => {
  const nats = await startNatsServer({ jetstream: false });
  onTestFinished(() => nats.stop());
  const proxy = await startTcpProxy(nats.port);
  onTestFinished(() => proxy.close());
  const nc = await connect({ servers: proxy.url, ignoreClusterUpdates: true });
  onTestFinished(() => nc.close());
  nc.subscribe("echo", {
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
  await nc.flush();
  expect((await nc.request("echo", "1", { timeout: 2000 })).string()).toBe("1");

  proxy.stall();
  await expect(nc.request("echo", "2", { timeout: 300 })).rejects.toThrow();
  proxy.resume();
  expect((await nc.request("echo", "3", { timeout: 2000 })).string()).toBe("3");
});
