import { freePorts } from "./free-port.ts";
import type { Jsz } from "./monitor.ts";
import type { NatsServer, NatsServerOptions } from "./nats-server.ts";
import { requireNatsServer } from "./nats-server.ts";
import { isAddressInUse, type NodePlan, prepareServer, type ServerProcess } from "./server-process.ts";
import { waitFor } from "./wait-for.ts";

export interface NatsClusterOptions extends Omit<NatsServerOptions, "name" | "storeDir"> {
  /** Cluster name; nodes are named `<name>-n1` … Default: `tlc-<random>`. */
  name?: string;
  /** How long to wait for the JetStream meta leader and current followers after the nodes are up. Default 30 000 ms (a loaded CI machine needs more than 15 s). */
  metaLeaderTimeoutMs?: number;
  /**
   * Run every node with this config file (e.g. the deployment's own) instead
   * of a generated one; `env(node)` returns the environment variables it
   * references, from the node's picked name, ports, store dir and routes.
   * Options that shape the generated config (`systemAccount`, `config`,
   * `jetstream`) do not apply to it; `args` still does.
   */
  configFile?: string;
  env?: (node: NodePlan) => Record<string, string>;
}

/**
 * Local nodes routed to each other. Each node is a full `NatsServer`
 * (`kill()`, `restart()` on the same ports and store).
 */
export interface NatsCluster extends AsyncDisposable {
  readonly name: string;
  readonly servers: NatsServer[];
  /** Client URLs of every node (pass as `servers` to `connect()`). */
  readonly urls: string[];
  /**
   * Waits until every running JetStream node agrees on one meta leader and
   * the leader sees every other running node as current; resolves to it.
   * With `followers: "prefer"`, agreement is required but followers that are
   * still not current {@link PREFER_FOLLOWERS_MS} after it are accepted (the
   * leader is returned; a fresh cluster's followers may not report current
   * until the meta group has work). Default timeout 30 s: after a
   * whole-cluster restart a loaded CI machine has taken more than 15 s for
   * followers to report current.
   */
  metaLeader(options?: { timeoutMs?: number; followers?: "require" | "prefer" }): Promise<NatsServer>;
  /** Stops every node (see `NatsServer.stop()`). */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;
/** `followers: "prefer"`: how long after the nodes agree on a leader its followers get to report current. */
export const PREFER_FOLLOWERS_MS = 3_000;
/** How long a fresh cluster's meta leader gets, after agreement, to count every node in its group. */
const META_GROUP_MS = 3_000;

/**
 * The nodes a fresh cluster's JetStream meta group left out (pure): `[]`
 * when the leader's view (`/jsz` `meta_cluster`) counts a group of at least
 * `nodes.length` (its followers may not be listed yet), else the nodes that
 * are neither the leader nor among its replicas. nats-server 2.10.27 sometimes forms
 * the group of a cold start (all nodes at once) without one node: the
 * leader's `cluster_size` drops to 2 and that node, although routed and
 * following the leader, is never added — R3 streams then fail with "no
 * suitable peers for placement" for minutes (seen 5 times in ~100 starts
 * with three clusters starting in parallel; restarting the left-out node
 * repairs it in ~1 s; 2.15.1 never did it in 120 starts).
 */
export function leftOutOfMetaGroup(leaderName: string, leader: Jsz, nodes: readonly string[]): string[] {
  const meta = leader.meta_cluster;
  const inGroup = new Set([leaderName, ...(meta?.replicas ?? []).map((r) => r.name)]);
  if ((meta?.cluster_size ?? 0) >= nodes.length) return [];
  return nodes.filter((name) => !inGroup.has(name));
}

/** A fresh cluster formed its meta group without some nodes ({@link leftOutOfMetaGroup}); the start is retried. */
class IncompleteMetaGroup extends Error {}

/**
 * Starts `size` nodes (explicit routes between all of them, unique server
 * names, one cluster name, JetStream on every node unless `jetstream: false`)
 * and resolves once the JetStream meta leader is elected and counts every
 * node in its group, so R3 streams can be placed (followers may still be
 * catching up: creates wait for placement). A start whose meta group left a
 * node out ({@link leftOutOfMetaGroup}) or whose ports were taken is retried
 * from scratch, up to 3 attempts. Ignores `NATS_URL`: a cluster is always
 * spawned locally.
 * @example
 *   const cluster = await startCluster(3);
 *   onTestFinished(() => cluster.stop());
 *   const nc = await connect({ servers: cluster.urls });
 */
export async function startCluster(size = 3, options: NatsClusterOptions = {}): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`cluster size must be a positive integer, got ${size}`);
  const bin = requireNatsServer();
  const name = options.name ?? `tlc-${Math.random().toString(36).slice(2, 8)}`;
  const { metaLeaderTimeoutMs = 30_000, name: _name, configFile, env, ...serverOptions } = options;
  const external = configFile ? { configFile, env: env ?? (() => ({})) } : undefined;
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(size * 3);
    const clusterPorts = ports.slice(size * 2);
    const servers: ServerProcess[] = [];
    try {
      for (let i = 0; i < size; i++) {
        const clusterPort = clusterPorts[i] as number;
        servers.push(
          await prepareServer(
            bin,
            { ...serverOptions, name: `${name}-n${i + 1}` },
            {
              port: ports[i * 2] as number,
              monitorPort: ports[i * 2 + 1] as number,
              cluster: { name, port: clusterPort, routes: clusterPorts.filter((p) => p !== clusterPort) },
            },
            external,
          ),
        );
      }
      // Nodes start together: a clustered JetStream node is healthy only once it sees a meta leader.
      const launched = await Promise.allSettled(servers.map((s) => s.launch()));
      const failed = launched.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      const cluster = new LocalCluster(name, servers, serverOptions.jetstream ?? true);
      if (cluster.jetstream) {
        // A fresh cluster's followers can take long to report current on a loaded machine; what a caller
        // creates next waits for placement itself (provisionThreadline), so agreement is what start needs —
        // with every node in the group, else no R3 stream can ever be placed.
        const leader = await cluster.metaLeader({ timeoutMs: metaLeaderTimeoutMs, followers: "prefer" });
        await requireWholeMetaGroup(cluster, leader);
      }
      return cluster;
    } catch (error) {
      await Promise.all(servers.map((s) => s.stop()));
      const retry = isAddressInUse(error) || error instanceof IncompleteMetaGroup;
      if (!retry || attempt >= START_ATTEMPTS) throw error;
      if (error instanceof IncompleteMetaGroup) console.error(`[test-kit] ${error.message}; starting it again`);
    }
  }
}

/**
 * Waits (≤ {@link META_GROUP_MS}) until the meta leader counts every node of
 * a fresh cluster in its group; throws {@link IncompleteMetaGroup} naming the
 * left-out nodes otherwise. The group may grow one peer at a time, so a short
 * shortfall right after agreement is normal.
 */
async function requireWholeMetaGroup(cluster: LocalCluster, leader: NatsServer): Promise<void> {
  const names = cluster.servers.map((s) => s.name);
  let leftOut: string[] = [];
  let size: number | undefined;
  try {
    await waitFor(
      async () => {
        const jsz = await leader.jsz();
        size = jsz.meta_cluster?.cluster_size;
        leftOut = leftOutOfMetaGroup(leader.name, jsz, names);
        return leftOut.length === 0;
      },
      { timeoutMs: META_GROUP_MS, intervalMs: 50 },
    );
  } catch (error) {
    throw new IncompleteMetaGroup(
      `cluster ${cluster.name}: meta leader ${leader.name} formed a group of ${size ?? "?"} without ` +
        `${leftOut.join(", ") || "some nodes"} (nats-server cold-start race, see leftOutOfMetaGroup)`,
      { cause: error },
    );
  }
}

class LocalCluster implements NatsCluster {
  readonly urls: string[];

  constructor(
    readonly name: string,
    readonly servers: ServerProcess[],
    readonly jetstream: boolean,
  ) {
    this.urls = servers.map((s) => s.url);
  }

  async metaLeader(options: { timeoutMs?: number; followers?: "require" | "prefer" } = {}): Promise<NatsServer> {
    if (!this.jetstream) throw new Error(`cluster ${this.name} runs without JetStream: it has no meta leader`);
    let seen = "";
    let agreed: NatsServer | undefined;
    /** Since when the running nodes have agreed on `agreed` (ms since the epoch). */
    let agreedSince = 0;
    const found = waitFor(
      async () => {
        const running = this.servers.filter((s) => s.running());
        const views = await Promise.all(running.map(async (s) => ({ server: s, jsz: await s.jsz() })));
        const leaders = new Set(views.map((v) => v.jsz.meta_cluster?.leader));
        seen = views.map((v) => `${v.server.name}→${v.jsz.meta_cluster?.leader || "none"}`).join(", ");
        const [leaderName] = leaders;
        const leader = leaders.size === 1 && leaderName ? views.find((v) => v.server.name === leaderName) : undefined;
        if (leader?.server !== agreed) agreedSince = Date.now();
        agreed = leader?.server;
        if (!leader) return undefined;
        const current = new Set(
          (leader.jsz.meta_cluster?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name),
        );
        const followersCurrent = running.every((s) => s === leader.server || current.has(s.name));
        if (followersCurrent) return leader.server;
        // Agreement is what "prefer" needs; followers get a short grace to catch up, not the whole timeout.
        return options.followers === "prefer" && Date.now() - agreedSince >= PREFER_FOLLOWERS_MS
          ? leader.server
          : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 30_000, intervalMs: 50, message: () => `meta leader views: ${seen}` },
    );
    if (options.followers !== "prefer") return found;
    return found.catch((error: unknown) => {
      if (agreed?.running()) return agreed;
      throw error;
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
