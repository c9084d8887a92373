import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { type Agent, connectAgent } from "@threadline/agent";
import { provisionThreadline } from "@threadline/store";
import { type NatsCluster, type NodePlan, startCluster, startTcpProxy, type TcpProxy } from "@threadline/test-kit";
import { type GatewayProcess, spawnGateway } from "../../integration/support/gateway-process.ts";
import { type PresenceProcess, spawnPresence } from "./presence-process.ts";

/**
 * The system under chaos: a 3-node nats-server cluster running the
 * deployment's own configuration file (stream and KV buckets with 3
 * replicas; every service as its own NATS user), two gateway processes — `direct` connects to
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
  readonly direct: GatewayProcess;
  readonly proxied: GatewayProcess;
  readonly presence: PresenceProcess[];
  /**
   * Connects an agent as the `example-agent` user (no provisioning), its
   * server list rotated by `index` to spread agents over the nodes.
   */
  agent(index?: number): Promise<Agent>;
  /** Starts another gateway process connected to the three nodes (after the first ones were killed); stopped by `close()`. */
  spawnGateway(id: string): Promise<GatewayProcess>;
  /** Starts another presence replica process; stopped by `close()`. */
  spawnPresence(id: string): Promise<PresenceProcess>;
  /** How an agent worker process connects: the node URLs and the `example-agent` user (env for the worker). */
  readonly agentEnv: Record<string, string>;
  /** How a notifier process connects: the node URLs and the `notifier` user, no provisioning (env for the process). */
  readonly notifierEnv: Record<string, string>;
  /**
   * The `gateway` user: what a test writes as the gateway would (users' and operators' input,
   * presence of their sockets, push subscriptions) and reads (buckets, consumer info).
   */
  readonly gatewayUser: { user: string; pass: string };
  /** Logs of the gateways, presence replicas and nodes, for failure output. */
  logs(): string;
  close(): Promise<void>;
}

/**
 * The chaos suite runs the nats-server series the deployment ships (the
 * Kubernetes image is 2.10): `npm run test:chaos` fetches Debian trixie's
 * 2.10 when the machine has only Debian 12's 2.9.10. A 2.9.10 cluster came
 * back from a whole-cluster restart with replicas disagreeing on which event
 * is at which seq (acknowledged seqs later held other events) — see
 * test/chaos/README.md; the gateway detects that (PROTOCOL.md §8.4) but
 * cannot undo it, so 2.9 is not a supported cluster version.
 */
export const CLUSTER_MIN_VERSION = [2, 10] as const;

async function requireClusterSeries(cluster: NatsCluster): Promise<void> {
  const { version } = await cluster.servers[0]!.varz();
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const [wantMajor, wantMinor] = CLUSTER_MIN_VERSION;
  if (major > wantMajor || (major === wantMajor && minor >= wantMinor)) return;
  throw new Error(
    `the chaos suite needs nats-server >= ${wantMajor}.${wantMinor}, this is ${version}: ` +
      `run it with \`npm run test:chaos\` (it fetches one) or set NATS_SERVER_BIN`,
  );
}

/** nats.js client options for connections that must survive node restarts. */
const RECONNECT = { maxReconnectAttempts: -1, reconnectTimeWait: 100 } as const;

/**
 * The deployment's NATS configuration (Kubernetes and here): accounts and
 * least-privilege users included, node specifics from the environment.
 */
export const NATS_CONFIG_FILE = fileURLToPath(new URL("../../../deploy/k8s/base/nats/nats.conf", import.meta.url));

/** Test passwords of the users in deploy/k8s/base/nats/accounts.conf (the `TL_NATS_*_PASS` variables). */
const PASSWORDS = {
  TL_NATS_GATEWAY_PASS: "chaos-gateway",
  TL_NATS_PRESENCE_PASS: "chaos-presence",
  TL_NATS_NOTIFIER_PASS: "chaos-notifier",
  TL_NATS_SYS_PASS: "chaos-sys",
  TL_NATS_AGENT_EXAMPLE_AGENT_PASS: "chaos-agent",
};
/** The agent user of accounts.conf: it may publish only as participant `example-agent`. */
export const AGENT_ID = "example-agent";

/** The environment deploy/k8s/base/nats/nats.conf reads, for one local node. */
function nodeEnv(node: NodePlan): Record<string, string> {
  const cluster = node.cluster!;
  const routes = [cluster.port, ...cluster.routes].map((port) => `"nats-route://127.0.0.1:${port}"`);
  return {
    NATS_SERVER_NAME: node.name,
    NATS_HOST: "127.0.0.1",
    NATS_PORT: String(node.port),
    NATS_MONITOR_PORT: String(node.monitorPort),
    NATS_STORE_DIR: node.storeDir,
    NATS_MAX_FILE_STORE: "1GB",
    NATS_CLUSTER_NAME: cluster.name,
    NATS_CLUSTER_PORT: String(cluster.port),
    NATS_ROUTES: `[${routes.join(", ")}]`,
    ...PASSWORDS,
  };
}

/**
 * Starts the stack. `signal`: the caller gave up waiting (its hook's deadline): whatever was started is
 * stopped at once, and each step that completes afterwards stops what it started, so an abandoned start
 * leaves no processes behind for the file's later tests or the next files.
 */
export function startChaosStack(options: { signal?: AbortSignal } = {}): Promise<ChaosStack> {
  const { signal } = options;
  const starting = buildChaosStack(signal);
  if (!signal) return starting;
  // Given up on: reject at once (the step under way may wait for its own timeout, e.g. NATS requests to a cluster
  // the abort has just stopped); the start goes on in the background only to stop what it started.
  const abandoned = new Promise<never>((_, reject) => {
    const fail = () => reject(new Error("chaos stack start abandoned (deadline)"));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
  starting.catch(() => {});
  return Promise.race([starting, abandoned]);
}

async function buildChaosStack(signal: AbortSignal | undefined): Promise<ChaosStack> {
  // Each start step's duration goes to stderr as it completes: a start that outlives its hook's timeout shows
  // which step it was in (vitest prints a hook timeout without anything of the hook's own).
  let stepStarted = Date.now();
  const step = (name: string) => {
    console.error(`[chaos-stack] ${name}: ${Date.now() - stepStarted} ms`);
    stepStarted = Date.now();
    if (signal?.aborted) throw new Error(`given up after: ${name}`);
  };
  const cluster = await startCluster(3, {
    configFile: NATS_CONFIG_FILE,
    env: nodeEnv,
    // Clients reconnect only to the URLs they were given: the proxied gateway cannot route around its proxies.
    args: ["--no_advertise"],
    // A whole-cluster restart needs Raft elections before a node is healthy again: allow for them under load.
    readyTimeoutMs: 60_000,
  });
  const cleanup: (() => Promise<unknown>)[] = [() => cluster.stop()];
  /** Runs the cleanups not run yet, newest first (safe to call again: an abandoned start calls it twice). */
  const close = async () => {
    for (let undo = cleanup.pop(); undo; undo = cleanup.pop()) await undo().catch(() => {});
  };
  signal?.addEventListener("abort", () => void close(), { once: true });
  const gatewayAuth = { NATS_USER: "gateway", NATS_PASS: PASSWORDS.TL_NATS_GATEWAY_PASS };
  try {
    step(`cluster ${cluster.name} started`);
    await requireClusterSeries(cluster);
    // Provisioned once, as the gateway user (it may create the stream and buckets), with 3 replicas.
    const nc = await connect({ servers: cluster.urls, user: "gateway", pass: PASSWORDS.TL_NATS_GATEWAY_PASS });
    try {
      await provisionThreadline(nc, { replicas: 3 }); // waits for a forming cluster (placement.ts)
    } finally {
      await nc.close();
    }
    step("stream and buckets provisioned");
    const proxies = await Promise.all(cluster.servers.map((s) => startTcpProxy(s.port)));
    cleanup.push(() => Promise.all(proxies.map((p) => p.close())));
    const gatewayEnv = { ...gatewayAuth, THREADLINE_PROVISION: "false", THREADLINE_REPLICAS: "3" };
    const direct = await spawnGateway(cluster.urls.join(","), { ...gatewayEnv, THREADLINE_GATEWAY_ID: "gw-direct" });
    cleanup.push(() => direct.kill());
    const proxied = await spawnGateway(proxies.map((p) => p.url).join(","), {
      ...gatewayEnv,
      THREADLINE_GATEWAY_ID: "gw-proxied",
    });
    cleanup.push(() => proxied.kill());
    step("gateways started");
    const gatewayOf = async (id: string) => {
      const gateway = await spawnGateway(cluster.urls.join(","), { ...gatewayEnv, THREADLINE_GATEWAY_ID: id });
      cleanup.push(() => gateway.kill());
      return gateway;
    };
    const presenceOf = async (id: string) => {
      const replica = await spawnPresence(id, {
        NATS_URL: cluster.urls.join(","),
        NATS_USER: "presence",
        NATS_PASS: PASSWORDS.TL_NATS_PRESENCE_PASS,
        // Disconnect advisories: crashed writers are reported at once, not after heartbeat expiry.
        NATS_SYS_USER: "sys",
        NATS_SYS_PASS: PASSWORDS.TL_NATS_SYS_PASS,
        THREADLINE_PROVISION: "false",
        THREADLINE_REPLICAS: "3",
      });
      cleanup.push(() => replica.kill());
      return replica;
    };
    const presence = [await presenceOf("pa"), await presenceOf("pb")];
    step("presence replicas started");
    const agents: Agent[] = [];
    cleanup.push(() => Promise.all(agents.map((a) => a.close())));
    const stack: ChaosStack = {
      cluster,
      proxies,
      direct,
      proxied,
      presence,
      spawnGateway: gatewayOf,
      spawnPresence: presenceOf,
      agentEnv: {
        NATS_URL: cluster.urls.join(","),
        NATS_USER: AGENT_ID,
        NATS_PASS: PASSWORDS.TL_NATS_AGENT_EXAMPLE_AGENT_PASS,
        AGENT_ID,
        PROVISION: "false",
      },
      notifierEnv: {
        NATS_URL: cluster.urls.join(","),
        NATS_USER: "notifier",
        NATS_PASS: PASSWORDS.TL_NATS_NOTIFIER_PASS,
        THREADLINE_PROVISION: "false",
        THREADLINE_REPLICAS: "3",
      },
      gatewayUser: { user: "gateway", pass: PASSWORDS.TL_NATS_GATEWAY_PASS },
      async agent(index = 0) {
        const n = cluster.urls.length;
        const servers = cluster.urls.map((_, i) => cluster.urls[(i + index) % n] as string);
        const agent = await connectAgent({
          servers,
          id: AGENT_ID,
          user: AGENT_ID,
          pass: PASSWORDS.TL_NATS_AGENT_EXAMPLE_AGENT_PASS,
          provision: false,
          nats: { ...RECONNECT },
        });
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
    if (signal?.aborted) throw new Error("chaos stack start abandoned (deadline)", { cause: error });
    throw error;
  }
}
