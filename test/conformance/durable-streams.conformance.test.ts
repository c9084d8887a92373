import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createGateway, type Gateway } from "@threadline/gateway";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { pino } from "pino";
import { afterAll, beforeAll, describe } from "vitest";
import { testGatewayConfig } from "../integration/support/stack.ts";
import { mintToken } from "../integration/support/tokens.ts";
import { type BearerProxy, startBearerProxy } from "./bearer-proxy.ts";
import { LONG_POLL_TIMEOUT_MS } from "./not-applicable.ts";

/**
 * The public Durable Streams conformance suite against the gateway on a real
 * nats-server, through a proxy that adds the bearer token (the suite sends
 * none). Write limits are raised: the suite's stress tests append far faster
 * than a person types, from one user.
 */
const options = { baseUrl: "", longPollTimeoutMs: LONG_POLL_TIMEOUT_MS + 4_000 };
let nats: NatsServer;
let nc: NatsConnection;
let gateway: Gateway;
let proxy: BearerProxy;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  gateway = await createGateway(
    testGatewayConfig(nats.url, {
      THREADLINE_DS_LONG_POLL_TIMEOUT_MS: String(LONG_POLL_TIMEOUT_MS),
      THREADLINE_DS_WRITES_PER_SECOND: "100000",
      THREADLINE_DS_WRITE_BURST: "100000",
      THREADLINE_DS_MAX_LIVE_PER_USER: "1000",
    }),
    { nc, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) },
  );
  const token = await mintToken({ sub: "conformance", role: "operator", expiresIn: 24 * 3600 });
  proxy = await startBearerProxy({ host: "127.0.0.1", port: gateway.port }, token);
  options.baseUrl = proxy.url;
}, 60_000);

afterAll(async () => {
  await proxy?.[Symbol.asyncDispose]();
  await gateway?.close();
  await nc?.close();
  await nats?.stop();
});

describe("Durable Streams conformance (gateway)", () => {
  runConformanceTests(options);
});
