import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { expect, onTestFinished, test } from "vitest";
import { startCluster } from "./nats-cluster.ts";

// startCluster with the caller's own config file (as the chaos suite runs
// deploy/k8s/base/nats/nats.conf): node specifics come from `env(node)`.

test("startCluster runs every node with a given config file and per-node environment", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tl-kit-conf-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const configFile = join(dir, "nats.conf");
  await writeFile(
    configFile,
    [
      "server_name: $NODE_NAME",
      "host: 127.0.0.1",
      "port: $NODE_PORT",
      "http_port: $NODE_MONITOR_PORT",
      "jetstream { store_dir: $NODE_STORE }",
      "cluster { name: $NODE_CLUSTER, host: 127.0.0.1, port: $NODE_CLUSTER_PORT, routes: $NODE_ROUTES }",
      "accounts { APP { jetstream: enabled, users: [ { user: app, password: $APP_PASS } ] } }",
    ].join("\n"),
  );
  const cluster = await startCluster(3, {
    configFile,
    env: (node) => ({
      NODE_NAME: node.name,
      NODE_PORT: String(node.port),
      NODE_MONITOR_PORT: String(node.monitorPort),
      NODE_STORE: node.storeDir,
      NODE_CLUSTER: node.cluster!.name,
      NODE_CLUSTER_PORT: String(node.cluster!.port),
      NODE_ROUTES: `[${node.cluster!.routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]`,
      APP_PASS: "secret",
    }),
    args: ["--no_advertise"],
  });
  onTestFinished(() => cluster.stop());
  expect((await cluster.metaLeader()).name).toMatch(/-n[123]$/);
  // The file's accounts apply: the user from the env-provided password can connect, anonymous cannot.
  const nc = await connect({ servers: cluster.urls[0], user: "app", pass: "secret" });
  onTestFinished(() => nc.close());
  await expect(connect({ servers: cluster.urls[1], reconnect: false })).rejects.toThrow();
  // --no_advertise: the client learns no other node URLs from the cluster.
  expect(nc.info?.connect_urls ?? []).toEqual([]);
});
