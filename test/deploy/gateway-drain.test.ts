import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connectAgent } from "@threadline/agent";
import { createClient } from "@threadline/client";
import { CloseCode } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import { RawSocket } from "../integration/support/raw-socket.ts";
import { mintToken } from "../integration/support/tokens.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** THREADLINE_DRAIN_TIMEOUT_MS as the Kubernetes base configures it (deploy/k8s/base/kustomization.yaml). */
function manifestDrainTimeoutMs(): string {
  const kustomization = readFileSync(join(ROOT, "deploy/k8s/base/kustomization.yaml"), "utf8");
  const value = /THREADLINE_DRAIN_TIMEOUT_MS=(\d+)/.exec(kustomization)?.[1];
  if (!value) throw new Error("THREADLINE_DRAIN_TIMEOUT_MS not set in deploy/k8s/base/kustomization.yaml");
  return value;
}

/**
 * What the Kubernetes termination of a gateway pod relies on
 * (deploy/k8s/base/gateway/deployment.yaml): on SIGTERM the gateway closes
 * every socket with the retryable 1001 "going away" and exits within
 * THREADLINE_DRAIN_TIMEOUT_MS (so before terminationGracePeriodSeconds), and
 * a client that knows both replicas resumes on the other one with every
 * event exactly once, in order.
 */
test("SIGTERM drains: 1001 to every socket, exit within the drain timeout, clients resume on another replica", async () => {
  const drainTimeoutMs = manifestDrainTimeoutMs();
  const nats = await startNatsServer();
  onTestFinished(() => nats.stop());
  const draining = await spawnGateway(nats.url, { THREADLINE_DRAIN_TIMEOUT_MS: drainTimeoutMs });
  onTestFinished(() => draining.kill());
  const other = await spawnGateway(nats.url, { THREADLINE_DRAIN_TIMEOUT_MS: drainTimeoutMs });
  onTestFinished(() => other.kill());
  const agent = await connectAgent({ servers: nats.url, id: "drain-agent" });
  onTestFinished(() => agent.close());

  const raw = await RawSocket.connect(draining.url, await mintToken({ sub: "observer" }));
  onTestFinished(() => raw.close());
  expect((await raw.request({ op: "attach", session: "drain", from: "now" })).op).toBe("attached");
  const client = createClient({ url: [draining.url, other.url], token: () => mintToken({ sub: "user" }), WebSocket });
  onTestFinished(() => client.close());
  const session = await client.attach("drain");
  const received: number[] = [];
  session.onEvent(({ seq }) => received.push(seq));

  const published: number[] = [];
  for (let i = 0; i < 20; i++) published.push((await agent.publish("drain", { type: "n", data: { i } })).seq);
  await waitFor(() => received.length >= 20, { message: "events before the drain" });

  const started = performance.now();
  const exited = draining.stop(); // SIGTERM, resolves when the process has exited
  await waitFor(() => raw.closeCode !== undefined, { message: "the raw socket was not closed" });
  expect(raw.closeCode).toBe(CloseCode.GOING_AWAY);
  await exited;
  expect(performance.now() - started).toBeLessThan(Number(drainTimeoutMs));

  for (let i = 20; i < 40; i++) published.push((await agent.publish("drain", { type: "n", data: { i } })).seq);
  await waitFor(() => received.length >= 40, { timeoutMs: 20_000, message: "events after the drain" });
  expect(received).toEqual(published);
});
