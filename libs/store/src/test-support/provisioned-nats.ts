import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { afterAll, beforeAll } from "vitest";
import { provisionThreadline, type ThreadlineStreamInfo } from "../stream-provisioner.ts";

export interface ProvisionedNats {
  readonly nats: NatsServer;
  readonly nc: NatsConnection;
  /** The stream and buckets as `provisionThreadline` (defaults) made them. */
  readonly info: ThreadlineStreamInfo;
}

/**
 * A nats-server with Threadline's stream and buckets provisioned, started before the file's first
 * test and stopped after its last (one per test file). Read the fields inside tests and hooks.
 */
export function useProvisionedNats(): ProvisionedNats {
  let state: ProvisionedNats | undefined;
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    state = { nats, nc, info: await provisionThreadline(nc) };
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });
  const get = (): ProvisionedNats => {
    if (!state) throw new Error("useProvisionedNats: read it inside a test or hook");
    return state;
  };
  return {
    get nats() {
      return get().nats;
    },
    get nc() {
      return get().nc;
    },
    get info() {
      return get().info;
    },
  };
}
