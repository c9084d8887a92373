import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Agent, connectAgent } from "@threadline/agent";
import { createGateway, type Gateway, type GatewayConfig, loadConfig } from "@threadline/gateway";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { pino } from "pino";
import { onTestFinished } from "vitest";
import { type GatewayProcess, spawnGateway } from "./gateway-process.ts";
import { mintToken, TEST_JWT_SECRET, type TokenClaims } from "./tokens.ts";

/** Gateway configuration for tests: random port, loopback, test secret, silent logs; env-style overrides. */
export function testGatewayConfig(natsUrl: string, env: Record<string, string> = {}): GatewayConfig {
  return loadConfig({
    THREADLINE_JWT_SECRET: TEST_JWT_SECRET,
    THREADLINE_GATEWAY_HOST: "127.0.0.1",
    THREADLINE_GATEWAY_PORT: "0",
    THREADLINE_GATEWAY_ID: "test-gateway",
    NATS_URL: natsUrl,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...env,
  });
}

export interface Stack extends AsyncDisposable {
  nats: NatsServer;
  /** The gateway's NATS connection. */
  nc: NatsConnection;
  gateway: Gateway;
  agent: Agent;
  token(claims: Partial<TokenClaims> & { sub?: string }): Promise<string>;
}

/** A real nats-server, an in-process gateway on a random port and an agent connection. */
export async function startStack(
  options: { gatewayEnv?: Record<string, string>; nats?: NatsServer } = {},
): Promise<Stack> {
  const nats = options.nats ?? (await startNatsServer());
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const gateway = await createGateway(testGatewayConfig(nats.url, options.gatewayEnv), {
    nc,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  const agent = await connectAgent({ servers: nats.url, id: "test-agent" });
  return assemble({ nats, nc, gateway, agent }, () => gateway.close(), !options.nats);
}

/** The stack's handle: tokens for user alice by default; disposal stops the gateway, then the connections. */
function assemble<G>(
  parts: { nats: NatsServer; nc: NatsConnection; gateway: G; agent: Agent },
  stopGateway: () => Promise<void>,
  stopNats: boolean,
) {
  return {
    ...parts,
    token: (claims: Partial<TokenClaims> & { sub?: string }) => mintToken({ sub: "alice", ...claims }),
    [Symbol.asyncDispose]: async () => {
      await stopGateway();
      await parts.agent.close();
      await parts.nc.close();
      if (stopNats) await parts.nats.stop();
    },
  };
}

/** Like {@link Stack}, with the gateway in its own process (`node services/gateway/src/main.ts`). */
export interface ProcessStack extends AsyncDisposable {
  nats: NatsServer;
  /** A NATS connection of the test's own (to read the control bucket). */
  nc: NatsConnection;
  gateway: GatewayProcess;
  agent: Agent;
  token(claims: Partial<TokenClaims> & { sub?: string }): Promise<string>;
}

/** A real nats-server, a gateway process on a random port and an agent connection. */
export async function startProcessStack(): Promise<ProcessStack> {
  const nats = await startNatsServer();
  const agent = await connectAgent({ servers: nats.url, id: "test-agent" });
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const gateway = await spawnGateway(nats.url);
  return assemble({ nats, nc, gateway, agent }, () => gateway.stop(), true);
}

/** {@link startStack} for one test: disposed when the test finishes. */
export async function testStack(options: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  const stack = await startStack(options);
  onTestFinished(() => stack[Symbol.asyncDispose]());
  return stack;
}

/** {@link startProcessStack} for one test: disposed when the test finishes. */
export async function testProcessStack(): Promise<ProcessStack> {
  const stack = await startProcessStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  return stack;
}
