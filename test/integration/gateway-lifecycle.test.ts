import { connect } from "@nats-io/transport-node";
import { createGateway } from "@threadline/gateway";
import { CloseCode } from "@threadline/protocol";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { testGatewayConfig } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

async function gateway() {
  const nc = await connect({ servers: nats.url });
  const gw = await createGateway(testGatewayConfig(nats.url), { nc, logger: pino({ level: "silent" }) });
  return { nc, gw, http: `http://127.0.0.1:${gw.port}` };
}

describe("gateway lifecycle", () => {
  it("serves /healthz, /readyz and Prometheus /metrics", async () => {
    const { nc, gw, http } = await gateway();
    try {
      expect((await fetch(`${http}/healthz`)).status).toBe(200);
      const ready = await fetch(`${http}/readyz`);
      expect(ready.status).toBe(200);
      const s = await RawSocket.connect(gw.url, await mintToken({ sub: "m" }));
      const metrics = await (await fetch(`${http}/metrics`)).text();
      expect(metrics).toMatch(/^threadline_gateway_connections 1$/m);
      expect((await fetch(`${http}/nope`)).status).toBe(404);
      await s.close();
    } finally {
      await gw.close();
      await nc.close();
    }
  });

  it("reports not ready while NATS is down", async () => {
    const own = await startNatsServer();
    const nc = await connect({ servers: own.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const gw = await createGateway(testGatewayConfig(own.url), { nc, logger: pino({ level: "silent" }) });
    try {
      const http = `http://127.0.0.1:${gw.port}`;
      const disconnected = (async () => {
        for await (const s of nc.status()) if (s.type === "disconnect") return;
      })();
      await own.kill();
      await disconnected;
      expect((await fetch(`${http}/readyz`)).status).toBe(503);
      expect((await fetch(`${http}/healthz`)).status).toBe(200);
      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === "reconnect") return;
      })();
      await own.restart();
      await reconnected;
      expect((await fetch(`${http}/readyz`)).status).toBe(200);
    } finally {
      await gw.close();
      await nc.close();
      await own.stop();
    }
  });

  it("graceful shutdown closes sockets with 1001 (retryable) and stops accepting", async () => {
    const { nc, gw } = await gateway();
    const s = await RawSocket.connect(gw.url, await mintToken({ sub: "m" }));
    await s.request({ op: "attach", session: "drain", from: "now" });
    await gw.close();
    expect(await s.closed).toBe(CloseCode.GOING_AWAY);
    await expect(RawSocket.open(gw.url)).rejects.toThrow();
    await nc.close();
  });
});
