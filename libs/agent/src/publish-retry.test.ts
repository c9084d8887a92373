import { startNatsServer as startTestNats, type NatsServer as TestNats } from "@threadline/test-kit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectAgent, connectionOf } from "./agent.ts";
import type { Agent, PublishAck } from "./agent-api.ts";

// A nats-server restart in the middle of a publishing loop: publishes that time out or
// meet "no responders" while the client reconnects are retried with the same event id,
// so every event is stored exactly once and in call order.

let nats: TestNats;
let agent: Agent;
beforeAll(async () => {
  nats = await startTestNats();
  agent = await connectAgent({
    servers: nats.url,
    id: "survivor",
    publishTimeoutMs: 1000,
    publishRetries: 8,
    nats: { reconnectTimeWait: 50 },
  });
});
afterAll(async () => {
  await agent?.close();
  await nats?.stop();
});

it("retries through a server restart: all events stored once, in order", async () => {
  const total = 300;
  const acks: PublishAck[] = [];
  let restart: Promise<void> | undefined;
  let failedAttempts = 0;
  const publisher = connectionOf(agent).publisher;
  const original = publisher.publish.bind(publisher);
  publisher.publish = (...args) =>
    original(...args).catch((error: unknown) => {
      failedAttempts++;
      throw error;
    });
  const reconnected = (async () => {
    for await (const s of connectionOf(agent).nc.status()) if (s.type === "reconnect") return;
  })();
  // Several publishes in flight for one session at a time is what the caller does here (no await per event).
  const publishing = Promise.all(
    Array.from({ length: total }, (_, i) =>
      agent.publish("restart", { id: `evt-${i}`, type: "note", data: { i } }).then((ack) => {
        acks[i] = ack;
        if (!restart && acks.filter(Boolean).length >= 50) restart = nats.restart();
        return ack;
      }),
    ),
  );
  await publishing;
  await restart;
  await reconnected;
  expect(failedAttempts).toBeGreaterThan(0); // the restart really failed attempts, which were retried
  const stored = [];
  for await (const r of agent.history("restart")) stored.push(r);
  expect(stored.map((r) => r.event.id)).toEqual(Array.from({ length: total }, (_, i) => `evt-${i}`));
  expect(stored.map((r) => r.seq)).toEqual(acks.map((a) => a.seq));
}, 60_000);
