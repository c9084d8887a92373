import { createClient, type ThreadlineClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { startPresence } from "./support/presence.ts";
import { testStack } from "./support/stack.ts";

// Presence over HTTP (PROTOCOL.md §21.10): a device reading a session live over HTTP is a member like an
// attached socket — the other tab sees it join, sees its status, and sees it leave once its reads stop —
// through the real gateway, presence service and nats-server.

test("an HTTP reader joins, sets its status, stays through SSE reconnects and leaves when it goes", async () => {
  // Short SSE responses: the HTTP client reconnects its live read every second during the test.
  const stack = await testStack({
    gatewayEnv: { THREADLINE_DS_SSE_MAX_MS: "1000", THREADLINE_PRESENCE_HEARTBEAT_MS: "500" },
  });
  const presence = await startPresence(stack.nats);
  onTestFinished(() => presence.close());
  const session = `http-presence-${process.pid}`;
  const client = (user: string, device: string, transport: "websocket" | "http"): ThreadlineClient => {
    const c = createClient({
      url: stack.gateway.url,
      transport,
      token: () => stack.token({ sub: user }),
      device,
      WebSocket: WebSocket as never,
    });
    onTestFinished(() => c.close());
    return c;
  };
  const bob = await client("bob", "bob-tab", "websocket").attach(session, { from: "start" });
  const transitions: string[] = [];
  bob.presence.onChange(({ transition }) => {
    if (transition?.data.id === "alice") transitions.push(`${transition.type}:${transition.data.status}`);
  });
  const alice = () => bob.presence.members.find((m) => m.kind === "user" && m.id === "alice");

  const aliceClient = client("alice", "alice-http", "http");
  const aliceSession = await aliceClient.attach(session, { from: "start" });
  await waitFor(() => alice() !== undefined, { message: "bob never saw alice join over HTTP" });
  expect(alice()!.devices.map((d) => d.device)).toEqual(["alice-http"]);

  await aliceSession.presence.set("typing", { metadata: { draft: 3 } });
  await waitFor(() => alice()?.status === "typing");
  expect(alice()!.metadata).toEqual({ draft: 3 });
  // Several SSE reconnects later alice is still there, joined once, with her status (nothing to await:
  // the point is that no leave and no second join happen meanwhile).
  await new Promise((resolve) => setTimeout(resolve, 2500));
  expect(alice()?.status).toBe("typing");
  expect(transitions.filter((t) => t.startsWith("presence.join"))).toHaveLength(1);
  expect(transitions.filter((t) => t.startsWith("presence.leave"))).toHaveLength(0);

  await aliceClient.close();
  await waitFor(() => alice() === undefined, { timeoutMs: 10_000, message: "alice never left" });
  expect(transitions.at(-1)).toMatch(/^presence\.leave/);
}, 30_000);

test("a status for a session this device does not read live is NOT_ATTACHED; a malformed one INVALID_FRAME", async () => {
  const stack = await testStack();
  const token = await stack.token({ sub: "carol" });
  const setStatus = (status: string) =>
    fetch(`http://127.0.0.1:${stack.gateway.port}/v1/sessions/nobody-reads/presence`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ device: "carol-http", status }),
    });
  const res = await setStatus("typing");
  expect(res.status).toBe(409);
  expect(await res.json()).toMatchObject({ code: "NOT_ATTACHED" });
  const bad = await setStatus("Not A Status");
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ code: "INVALID_FRAME" });
});
