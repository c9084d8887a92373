import { connectAgent } from "@threadline/agent";
import { createClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, it } from "vitest";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { useGatewayProcesses } from "./support/gateway-process.ts";
import { mintToken } from "./support/tokens.ts";

// Two gateway processes on one NATS; the one serving the clients is SIGKILLed
// mid-stream. Clients reconnect to the other and resume with no loss and no
// duplicates.

const stack = useGatewayProcesses({}, { THREADLINE_PROVISION: "false" });

it("clients of a SIGKILLed gateway resume losslessly on the other gateway", async () => {
  const {
    nats,
    gateways: [a, b],
  } = stack;
  const agent = await connectAgent({ servers: nats.url, id: "failover-agent" });
  const session = "failover";
  const total = 3000;
  const nets = [controlledWebSocket(), controlledWebSocket()];
  const received: number[][] = [[], []];
  const clients = nets.map((net, i) =>
    createClient({
      // Both replicas, as an app without a load balancer would configure them.
      url: [a.url, b.url],
      token: () => mintToken({ sub: `viewer${i}` }),
      WebSocket: net.WebSocket as never,
      reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    }),
  );
  try {
    for (const [i, client] of clients.entries()) {
      const handle = await client.attach(session, { from: "start" });
      handle.onEvent((r) => received[i]!.push(r.seq));
    }
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        await agent.publish(session, { type: "note", data: { i } });
        published++;
      }
    })();
    await waitFor(() => received.every((r) => r.length >= 500), { timeoutMs: 20_000 });
    await a.kill();
    await publishing;
    expect(published).toBe(total);
    const expected: number[] = [];
    for await (const r of agent.history(session)) expected.push(r.seq);
    await waitFor(() => received.every((r) => r.length >= total), {
      timeoutMs: 30_000,
      message: `received ${received.map((r) => r.length).join("/")} of ${total}`,
    });
    for (const r of received) expect(r).toEqual(expected);
    // Both clients really moved: each opened a second socket (to gateway b).
    for (const net of nets) expect(net.opened).toBeGreaterThanOrEqual(2);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await agent.close();
  }
}, 90_000);
