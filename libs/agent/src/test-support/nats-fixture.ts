import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { afterAll, beforeAll } from "vitest";
import { connectAgent, createAgent } from "../agent.ts";
import type { Agent, AgentOptions } from "../agent-api.ts";

/** A nats-server and a plain connection to it, shared by a test file's tests. */
export interface NatsFixture {
  readonly nats: NatsServer;
  readonly nc: NatsConnection;
}

/** {@link NatsFixture} with an agent on the same server. */
export interface AgentFixture extends NatsFixture {
  readonly agent: Agent;
}

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not started yet (use it inside a test or hook)`);
  return value;
}

/**
 * Starts a nats-server and connects to it before the file's first test; closes the connection and
 * stops the server after its last. Read the fields inside tests and hooks.
 */
export function useNats(): NatsFixture {
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });
  return {
    get nats() {
      return started(nats, "the nats-server");
    },
    get nc() {
      return started(nc, "the NATS connection");
    },
  };
}

/**
 * {@link useNats} plus an agent `id` (provisioning the stream), closed before the server stops. By
 * default the agent shares the fixture's connection (`createAgent`); `ownConnection` gives it its
 * own (`connectAgent`, with the other options).
 */
export function useAgent(
  options: { id: string; ownConnection?: boolean } & Omit<AgentOptions, "servers" | "id">,
): AgentFixture {
  const fixture = useNats();
  let agent: Agent | undefined;
  const { ownConnection, ...setup } = options;
  beforeAll(async () => {
    agent = ownConnection
      ? await connectAgent({ ...setup, servers: fixture.nats.url })
      : await createAgent(fixture.nc, setup);
  });
  // Hooks run as a stack: the agent closes before the connection and the server.
  afterAll(async () => {
    await agent?.close();
  });
  return {
    get nats() {
      return fixture.nats;
    },
    get nc() {
      return fixture.nc;
    },
    get agent() {
      return started(agent, "the agent");
    },
  };
}
