import { createClient } from "@threadline/client";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { startPresence } from "./support/presence.ts";
import { testStack } from "./support/stack.ts";

test("client session.presence: member snapshot on attach, live changes, unchanged across a resume", async () => {
  const stack = await testStack();
  const presence = await startPresence(stack.nats);
  onTestFinished(() => presence.close());
  // The agent was there before the client: an attach from `now` replays no join, the snapshot supplies it.
  const agentPresence = stack.agent.presence("room");
  await agentPresence.enter({ status: "active", name: "Agent" });

  const net = controlledWebSocket();
  const alice = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "alice" }),
    device: "laptop",
    WebSocket: net.WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  onTestFinished(() => alice.close());
  const session = await alice.attach("room", { from: "now" });
  const ids = () =>
    session.presence.members
      .map((m) => `${m.kind}:${m.id}`)
      .sort()
      .join(",");
  await waitFor(() => ids() === "agent:test-agent,user:alice");

  const bob = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "bob" }),
    device: "phone",
    WebSocket: (await import("ws")).default as never,
  });
  onTestFinished(() => bob.close());
  await bob.attach("room");
  await waitFor(() => ids() === "agent:test-agent,user:alice,user:bob");

  // Alice's socket drops; she resumes from her position. Meanwhile the agent changes status.
  const transitions: string[] = [];
  session.presence.onChange(({ transition }) => {
    if (transition) transitions.push(`${transition.type}:${transition.data.id}`);
  });
  net.drop();
  await agentPresence.update("thinking");
  await waitFor(() => session.presence.members.find((m) => m.id === "test-agent")?.status === "thinking");
  await bob.close();
  await waitFor(() => ids() === "agent:test-agent,user:alice");
  expect(transitions).toContain("presence.update:test-agent");
  expect(transitions).toContain("presence.leave:bob");
  // Alice herself: her old socket's entry left, her new one joined as the same participant.
  await waitFor(() => session.presence.members.find((m) => m.id === "alice")?.devices.length === 1);
});
