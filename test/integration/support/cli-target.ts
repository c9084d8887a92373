import { type Agent, connectAgent } from "@threadline/agent";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { afterAll } from "vitest";

/** What a CLI test file runs the CLI against: a nats-server with one agent connected. */
export interface CliTarget {
  readonly nats: NatsServer;
  readonly agent: Agent;
  /** The CLI process environment that points it at the server. */
  readonly env: { NATS_URL: string };
}

/**
 * Starts a nats-server and connects agent `agentId` (provisioning the stream), for the whole file:
 * call it at the file's top level; both are stopped after its last test.
 */
export async function startCliTarget(agentId: string): Promise<CliTarget> {
  const nats = await startNatsServer();
  const agent = await connectAgent({ servers: nats.url, id: agentId });
  afterAll(async () => {
    await agent.close();
    await nats.stop();
  });
  return { nats, agent, env: { NATS_URL: nats.url } };
}
