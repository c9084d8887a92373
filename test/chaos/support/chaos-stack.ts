import { connect } from "@nats-io/transport-node";
import { type Agent, connectAgent, provisionThreadline } from "@threadline/agent";
import { type NatsCluster, startCluster, startTcpProxy, type TcpProxy } from "@threadline/test-kit";
import { type GatewayProcess, spawnGateway } from "../../integration/support/gateway-process.ts";
import { type PresenceProcess, spawnPresence } from "./presence-process.ts";

/**
 * The system under chaos: a 3-node nats-server cluster (stream and KV
 * buckets with 3 replicas), two gateway processes — `direct` connects to
 * the nodes, `proxied` reaches every node only through a TCP proxy of the
 * test kit — and two presence replicas (processes).
 *
 * The nodes run with `--no_advertise`, so a client reconnects only to the
 * URLs it was given: the proxied gateway cannot bypass its proxies.
 */
export interface ChaosStack extends AsyncDisposable {
  readonly cluster: NatsCluster;
  /** One proxy per node, in node order; `proxied` connects through them. */
  readonly proxies: TcpProxy[];
  direct: GatewayProcess;
  proxied: GatewayProcess;
  presence: PresenceProcess[];
  /** Connects an agent (no provisioning), its server list rotated by `index` to spread agents over the nodes. */
  agent(id: string, index?: number): Promise<Agent>;
  /** Logs of the gateways, presence replicas and nodes, for failure output. */
  logs(): string;
  close(): Promise<void>;
}

/** nats.js client options for connections that must survive node restarts. */
const RECONNECT = { maxReconnectAttempts: -1, reconnectTimeWait: 100 } as const;

export async function startChaosStack(): Promise<ChaosStack> {
  // A whole-cluster restart needs Raft elections before a node is healthy again: allow for them under load.
  const cluster = await startCluster(3, { args: ["--no_advertise"], readyTimeoutMs: 60_000 });
  const cleanup: (() => Promise<unknown>)[] = [() => cluster.stop()];
  const close = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  };
  try {
    const nc = await connect({ servers: cluster.urls });
    try {
      await provisionThreadline(nc, { replicas: 3 });
    } finally {
      await nc.close();
    }
    const proxies = await Promise.all(cluster.servers.map((s) => startTcpProxy(s.port)));
    cleanup.push(() => Promise.all(proxies.map((p) => p.close())));
    const gatewayEnv = { THREADLINE_PROVISION: "false", THREADLINE_REPLICAS: "3" };
    const direct = await spawnGateway(cluster.urls.join(","), { ...gatewayEnv, THREADLINE_GATEWAY_ID: "gw-direct" });
    cleanup.push(() => direct.kill());
    const proxied = await spawnGateway(proxies.map((p) => p.url).join(","), {
      ...gatewayEnv,
      THREADLINE_GATEWAY_ID: "gw-proxied",
    });
    cleanup.push(() => proxied.kill());
    const presence: PresenceProcess[] = [];
    for (const id of ["pa", "pb"]) {
      const replica = await spawnPresence(id, {
        NATS_URL: cluster.urls.join(","),
        THREADLINE_PROVISION: "false",
        THREADLINE_REPLICAS: "3",
      });
      presence.push(replica);
      cleanup.push(() => replica.kill());
    }
    const agents: Agent[] = [];
    cleanup.push(() => Promise.all(agents.map((a) => a.close())));
    const stack: ChaosStack = {
      cluster,
      proxies,
      direct,
      proxied,
      presence,
      async agent(id, index = 0) {
        const n = cluster.urls.length;
        const servers = cluster.urls.map((_, i) => cluster.urls[(i + index) % n] as string);
        const agent = await connectAgent({ servers, id, provision: false, nats: { ...RECONNECT } });
        agents.push(agent);
        return agent;
      },
      logs() {
        return [
          `--- gateway direct ---\n${stack.direct.log()}`,
          `--- gateway proxied ---\n${stack.proxied.log()}`,
          ...stack.presence.map((p) => `--- presence ${p.id} ---\n${p.log()}`),
          ...cluster.servers.map((s) => `--- ${s.name} (tail) ---\n${s.log().slice(-4000)}`),
        ].join("\n");
      },
      close,
      [Symbol.asyncDispose]: close,
    };
    return stack;
  } catch (error) {
    await close();
    throw error;
  }
}
