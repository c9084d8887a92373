import { connect } from "@nats-io/transport-node";
import { createGateway } from "@threadline/gateway";
import { createPushSubscription, startPushService } from "@threadline/test-kit";
import { pino } from "pino";
import { expect, onTestFinished, test } from "vitest";
import { startPermissionedNats } from "./support/permissioned-nats.ts";
import { api, PUSH_GATEWAY_ENV } from "./support/push-api.ts";
import { testGatewayConfig } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

// The push routes run with the gateway's least-privilege NATS user (deploy/nats/permissions.ts).
test("with the gateway's NATS user, devices register, list and remove subscriptions and write preferences", async () => {
  const { nats, gateway: login } = await startPermissionedNats("push", []);
  onTestFinished(() => nats.stop());
  const nc = await connect({ servers: nats.url, ...login });
  onTestFinished(() => nc.close());
  const gateway = await createGateway(testGatewayConfig(nats.url, PUSH_GATEWAY_ENV), {
    nc,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  onTestFinished(() => gateway.close());
  const push = await startPushService();
  onTestFinished(() => push.close());

  const token = await mintToken({ sub: "perm-user" });
  const put = await api(gateway.port, "PUT", "/v1/push/subscriptions", {
    token,
    body: { subscription: createPushSubscription(push) },
  });
  expect(put.status).toBe(201);
  const { id } = put.json as { id: string };
  expect((await api(gateway.port, "GET", "/v1/push/subscriptions", { token })).json).toMatchObject({
    subscriptions: [{ id }],
  });
  const prefs = await api(gateway.port, "PUT", "/v1/notifications/preferences", {
    token,
    body: { preferences: { muted: true, mutedSessions: [], events: {} }, revision: 0 },
  });
  expect(prefs.status).toBe(200);
  expect((await api(gateway.port, "DELETE", `/v1/push/subscriptions/${id}`, { token })).status).toBe(204);
  expect((await api(gateway.port, "GET", "/v1/push/subscriptions", { token })).json).toEqual({ subscriptions: [] });
});
