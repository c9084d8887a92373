import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { findNatsServer, freePorts, waitFor } from "@threadline/test-kit";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { renderAccounts, SHIPPED_ACCOUNTS_FILES, writeShippedAccounts } from "../../deploy/nats/permissions.ts";
import {
  container,
  ensureKubectl,
  envValue,
  find,
  K8S,
  type K8sObject,
  modelOf,
  ROOT,
  references,
  render,
} from "./support/k8s-manifests.ts";

/**
 * Validation of deploy/k8s: every overlay renders with `kubectl kustomize`,
 * every object validates against the Kubernetes schemas (kubernetes-models),
 * the NATS configuration in the manifests is byte-identical to the files the
 * local cluster runs (deploy/k8s/base/nats/*.conf, deploy/nats/accounts.conf)
 * and nats-server accepts and runs it; the overlays' shapes, secrets and
 * network policies. Each service's workload against its own code (config
 * loader, ports, probes, Dockerfile): k8s-services.test.ts.
 */
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const SERVICE_PASSWORDS = {
  TL_NATS_GATEWAY_PASS: "g",
  TL_NATS_PRESENCE_PASS: "p",
  TL_NATS_NOTIFIER_PASS: "n",
  TL_NATS_SYS_PASS: "s",
  TL_NATS_AGENT_EXAMPLE_AGENT_PASS: "a",
};

/** Writes the nats-config ConfigMap's files into a fresh directory (removed after the test). */
function writeNatsConfig(objects: K8sObject[]): string {
  const dir = mkdtempSync(join(tmpdir(), "tl-k8s-nats-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (const [file, content] of Object.entries(
    find(objects, "ConfigMap", "nats-config").data as Record<string, string>,
  ))
    writeFileSync(join(dir, file), content);
  return dir;
}

/** The nats container's literal env values (from the manifest). */
function natsEnv(objects: K8sObject[]): Record<string, string> {
  const nats = container(find(objects, "StatefulSet", "nats"), "nats");
  return Object.fromEntries(
    (nats.env as { name: string; value?: string }[])
      .filter((e) => e.value !== undefined)
      .map((e) => [e.name, e.value as string]),
  );
}

/**
 * kustomize folds a generated Secret's long base64 values over several lines; the API server decodes
 * them with Go's base64, which skips line breaks, so the schema check sees them unfolded.
 */
function asApiServerReads(object: K8sObject): K8sObject {
  if (object.kind !== "Secret" || !object.data) return object;
  const data = Object.fromEntries(
    Object.entries(object.data as Record<string, string>).map(([k, v]) => [k, v.replace(/[\r\n]/g, "")]),
  );
  return { ...object, data };
}

function natsServerBinary(): string {
  const bin = findNatsServer();
  if (!bin) throw new Error("nats-server not found (bash deploy/local/ensure-nats-server.sh installs it)");
  return bin;
}

function startNode(bin: string, conf: string, env: Record<string, string>): ChildProcess {
  const proc = spawn(bin, ["-c", conf], { env: { PATH: process.env.PATH, ...env }, stdio: "ignore" });
  onTestFinished(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  });
  return proc;
}

async function monitor<T>(port: number, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

describe("deploy/k8s", () => {
  const rendered: Record<string, K8sObject[]> = {};

  beforeAll(() => {
    ensureKubectl();
    for (const overlay of ["dev", "prod"]) rendered[overlay] = render(overlay);
  }, 180_000);

  it.each(["dev", "prod"])("%s renders and every object validates against the Kubernetes schemas", (overlay) => {
    const objects = rendered[overlay] ?? [];
    expect(objects.length).toBeGreaterThan(15);
    for (const object of objects) {
      const Model = modelOf(object);
      expect(
        () => new Model(asApiServerReads(object)).validate(),
        `${object.kind} ${object.metadata.name}`,
      ).not.toThrow();
      if (object.kind !== "Namespace")
        expect(object.metadata.namespace).toBe(overlay === "dev" ? "threadline-dev" : "threadline");
    }
  });

  it("the schema validation rejects a malformed object", () => {
    const gateway = structuredClone(find(rendered.prod ?? [], "Deployment", "gateway"));
    gateway.spec.replicas = "two";
    const Model = modelOf(gateway);
    expect(() => new Model(gateway).validate()).toThrow(/replicas/);
    expect(() => modelOf({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).toThrow();
  });

  it.each(["dev", "prod"])(
    "%s: every ConfigMap/Secret a pod needs is rendered or is a documented external secret",
    (overlay) => {
      const objects = rendered[overlay] ?? [];
      const names = new Set(
        objects.filter((o) => o.kind === "ConfigMap" || o.kind === "Secret").map((o) => o.metadata.name),
      );
      const missing = { required: new Set<string>(), optional: new Set<string>() };
      for (const workload of objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")) {
        for (const ref of references(workload)) {
          if (!names.has(ref.name)) missing[ref.optional ? "optional" : "required"].add(`${ref.kind}/${ref.name}`);
        }
      }
      // prod expects the JWT and NATS secrets to be created out of band, and the notifier's channels
      // (Web Push keys, webhook) when used; dev generates all but the webhook (deploy/k8s/README.md).
      expect([...missing.required].sort()).toEqual(
        overlay === "dev" ? [] : ["Secret/threadline-jwt", "Secret/threadline-nats"],
      );
      expect([...missing.optional].sort()).toEqual(
        overlay === "dev" ? ["Secret/threadline-webhook"] : ["Secret/threadline-vapid", "Secret/threadline-webhook"],
      );
      // Each one is a row of the README's "Secrets" table.
      const secretsSection =
        read("deploy/k8s/README.md")
          .split(/^## /m)
          .find((s) => s.startsWith("Secrets")) ?? "";
      for (const ref of [...missing.required, ...missing.optional]) {
        expect(secretsSection).toContain(`| \`${ref.slice("Secret/".length)}\` |`);
      }
    },
  );

  it("the chaos suite runs the NATS configuration the manifests mount", async () => {
    const { NATS_CONFIG_FILE } = await import("../chaos/support/chaos-stack.ts");
    expect(NATS_CONFIG_FILE).toBe(join(K8S, "base/nats/nats.conf"));
  });

  it.each(["dev", "prod"])("%s mounts the canonical NATS configuration files", (overlay) => {
    const data = find(rendered[overlay] ?? [], "ConfigMap", "nats-config").data as Record<string, string>;
    expect(data["nats.conf"]).toBe(read("deploy/k8s/base/nats/nats.conf"));
    expect(data["accounts.conf"]).toBe(read("deploy/nats/accounts.conf"));
    expect(data["cluster.conf"]).toBe(
      read(overlay === "dev" ? "deploy/k8s/overlays/dev/nats/standalone.conf" : "deploy/k8s/base/nats/cluster.conf"),
    );
    const sts = find(rendered[overlay] ?? [], "StatefulSet", "nats");
    expect(container(sts, "nats").command).toEqual(["nats-server", "-c", "/etc/nats/nats.conf"]);
    const mount = container(sts, "nats").volumeMounts.find((m: { name: string }) => m.name === "config");
    expect(mount.mountPath).toBe("/etc/nats");
  });

  it.each(["dev", "prod"])("%s: every $VARIABLE of the NATS configuration is set in the pod", (overlay) => {
    const objects = rendered[overlay] ?? [];
    const data = find(objects, "ConfigMap", "nats-config").data as Record<string, string>;
    const variables = new Set(
      Object.values(data).flatMap((text) =>
        // Outside comments and quoted strings ("$JS.API…" subjects are not variables).
        [
          ...text
            .replace(/#.*$/gm, "")
            .replace(/"[^"]*"/g, "")
            .matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g),
        ].map((m) => m[1] as string),
      ),
    );
    const nats = container(find(objects, "StatefulSet", "nats"), "nats");
    const set = new Set<string>((nats.env as { name: string }[]).map((e) => e.name));
    const secretRef = nats.envFrom.find((f: { secretRef?: { name: string } }) => f.secretRef)?.secretRef.name;
    if (overlay === "dev") {
      const secret = find(objects, "Secret", "threadline-nats");
      expect(secretRef).toBe(secret.metadata.name);
      for (const key of Object.keys(secret.data ?? {})) set.add(key);
    }
    // prod: the threadline-nats Secret is created by the operator with the TL_NATS_*_PASS keys (README).
    else expect(secretRef).toBe("threadline-nats");
    const missing = [...variables].filter((v) => !set.has(v) && !(overlay === "prod" && /^TL_NATS_\w+_PASS$/.test(v)));
    expect(missing).toEqual([]);
    expect(variables.has("NATS_SERVER_NAME")).toBe(true);
  });

  it("the Kubernetes copy of accounts.conf equals deploy/nats/accounts.conf", () => {
    expect(
      read("deploy/k8s/base/nats/accounts.conf"),
      "regenerate both copies with: node --import tsx deploy/nats/permissions.ts --write <agent ids…>",
    ).toBe(read("deploy/nats/accounts.conf"));
  });

  it("permissions.ts --write renders every shipped copy of accounts.conf, the Kubernetes one included", () => {
    expect(SHIPPED_ACCOUNTS_FILES).toEqual(["deploy/nats/accounts.conf", "deploy/k8s/base/nats/accounts.conf"]);
    const root = mkdtempSync(join(tmpdir(), "tl-k8s-accounts-"));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    for (const file of SHIPPED_ACCOUNTS_FILES) mkdirSync(dirname(join(root, file)), { recursive: true });
    const options = { agents: ["example-agent", "my-agent"] };
    expect(writeShippedAccounts(options, root)).toEqual(SHIPPED_ACCOUNTS_FILES.map((file) => join(root, file)));
    for (const file of SHIPPED_ACCOUNTS_FILES) {
      expect(readFileSync(join(root, file), "utf8")).toBe(renderAccounts(options));
    }
  });

  it("prod: 3-node NATS on PVCs with required anti-affinity, PDBs, replicas 3", () => {
    const objects = rendered.prod ?? [];
    const sts = find(objects, "StatefulSet", "nats");
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(container(sts, "nats").volumeMounts.some((m: { name: string }) => m.name === "data")).toBe(true);
    const routes = JSON.parse(envValue(container(sts, "nats"), "NATS_ROUTES") ?? "[]") as string[];
    expect(routes).toEqual([0, 1, 2].map((i) => `nats-route://nats-${i}.nats-headless:6222`));
    const anti = sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(anti[0].topologyKey).toBe("kubernetes.io/hostname");
    expect(anti[0].labelSelector.matchLabels).toEqual({ "app.kubernetes.io/name": "nats" });
    for (const name of ["nats", "gateway", "presence", "notifier"])
      expect(find(objects, "PodDisruptionBudget", name).spec.maxUnavailable).toBe(1);
    expect(find(objects, "ConfigMap", "threadline-config").data.THREADLINE_REPLICAS).toBe("3");
    expect(find(objects, "ConfigMap", "threadline-gateway-config").data.THREADLINE_PRESENCE_HEARTBEAT_MS).toBe("15000");
    // Browser origins are explicit in production (WebSocket 4504 and CORS, PROTOCOL.md §5.1): never "any".
    const origins = find(objects, "ConfigMap", "threadline-gateway-config").data.THREADLINE_ALLOWED_ORIGINS ?? "";
    expect(origins).toMatch(/^https:\/\/[^*,\s]+(,https:\/\/[^*,\s]+)*$/);
    // Replicated services on different hosts where possible: losing a node leaves one running.
    for (const name of ["presence", "notifier"]) {
      const deployment = find(objects, "Deployment", name);
      expect(deployment.spec.replicas).toBe(2);
      const preferred =
        deployment.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
      expect(preferred[0].podAffinityTerm).toEqual({
        topologyKey: "kubernetes.io/hostname",
        labelSelector: { matchLabels: { "app.kubernetes.io/name": name } },
      });
    }
    // The page a notification opens is an https page of the app (a placeholder to replace, like the origins).
    expect(find(objects, "ConfigMap", "threadline-notifier-config").data.THREADLINE_NOTIFY_OPEN_URL).toMatch(
      /^https:\/\/[^/]+\/.*\{session\}/,
    );
    expect(find(objects, "HorizontalPodAutoscaler", "gateway").spec.minReplicas).toBeGreaterThanOrEqual(2);
    // The HPA owns the gateway count: a fixed `replicas` would be reset by every apply.
    expect(find(objects, "Deployment", "gateway").spec.replicas).toBeUndefined();
    expect(find(objects, "Service", "nats-headless").spec.publishNotReadyAddresses).toBe(true);
  });

  it("dev: one NATS node without clustering, one of each service, R1", () => {
    const objects = rendered.dev ?? [];
    expect(find(objects, "StatefulSet", "nats").spec.replicas).toBe(1);
    expect(find(objects, "Deployment", "gateway").spec.replicas).toBe(1);
    expect(find(objects, "Deployment", "presence").spec.replicas).toBe(1);
    expect(find(objects, "Deployment", "notifier").spec.replicas).toBe(1);
    expect(objects.some((o) => o.kind === "HorizontalPodAutoscaler")).toBe(false);
    expect(find(objects, "ConfigMap", "nats-config").data["cluster.conf"]).not.toMatch(/cluster\s*\{/);
    expect(find(objects, "ConfigMap", "threadline-config").data.THREADLINE_REPLICAS).toBe("1");
  });

  it.each(["dev", "prod"])("%s network policies: only the gateway is open, only our services reach NATS", (overlay) => {
    const objects = rendered[overlay] ?? [];
    const policies = objects.filter((o) => o.kind === "NetworkPolicy");
    const denyAll = policies.find((p) => Object.keys(p.spec.podSelector).length === 0);
    expect(denyAll?.spec.policyTypes).toEqual(["Ingress"]);
    expect(denyAll?.spec.ingress).toBeUndefined();
    // Rules without `from` admit any source: only the gateway's may.
    const open = policies.filter((p) => (p.spec.ingress ?? []).some((rule: { from?: unknown[] }) => !rule.from));
    expect(open.map((p) => p.spec.podSelector.matchLabels)).toEqual([{ "app.kubernetes.io/name": "gateway" }]);
    const nats = policies.find((p) => p.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === "nats");
    const clientRule = nats?.spec.ingress.find((rule: { ports: { port: number }[] }) =>
      rule.ports.some((p) => p.port === 4222),
    );
    expect(clientRule.from).toEqual([{ podSelector: { matchLabels: { "threadline.io/nats-client": "true" } } }]);
    const clients = objects
      .filter((o) => o.spec?.template?.metadata?.labels?.["threadline.io/nats-client"] === "true")
      .map((o) => o.metadata.name)
      .sort();
    expect(clients).toEqual(["gateway", "notifier", "presence"]);
    // The services' /metrics ports (presence 8081, notifier 8082) only from monitoring namespaces.
    for (const [service, port] of [
      ["presence", 8081],
      ["notifier", 8082],
    ] as const) {
      const rules = policies
        .filter((p) => p.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === service)
        .flatMap((p) => p.spec.ingress as { from: unknown[]; ports: { port: number }[] }[]);
      expect(rules, service).toEqual([
        {
          from: [{ namespaceSelector: { matchLabels: { "threadline.io/monitoring": "true" } } }],
          ports: [{ port, protocol: "TCP" }],
        },
      ]);
    }
  });

  it.each(["dev", "prod"])(
    "%s: nats-server -t accepts the rendered configuration, and rejects a missing password",
    (overlay) => {
      const objects = rendered[overlay] ?? [];
      const dir = writeNatsConfig(objects);
      const env = {
        PATH: process.env.PATH ?? "",
        ...natsEnv(objects),
        NATS_SERVER_NAME: "nats-0",
        ...SERVICE_PASSWORDS,
      };
      const ok = spawnSync(natsServerBinary(), ["-t", "-c", join(dir, "nats.conf")], { env, encoding: "utf8" });
      expect(ok.status, ok.stderr).toBe(0);
      const { TL_NATS_GATEWAY_PASS: _, ...withoutGateway } = env;
      const bad = spawnSync(natsServerBinary(), ["-t", "-c", join(dir, "nats.conf")], {
        env: withoutGateway,
        encoding: "utf8",
      });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/TL_NATS_GATEWAY_PASS/);
    },
  );

  it("the prod configuration runs a local 3-node JetStream cluster", async () => {
    const objects = rendered.prod ?? [];
    const dir = writeNatsConfig(objects);
    const bin = natsServerBinary();
    const ports = await freePorts(9);
    const routes = [0, 1, 2].map((i) => `nats-route://127.0.0.1:${ports[6 + i]}`);
    for (let i = 0; i < 3; i++) {
      startNode(bin, join(dir, "nats.conf"), {
        ...natsEnv(objects),
        ...SERVICE_PASSWORDS,
        NATS_SERVER_NAME: `nats-${i}`,
        NATS_HOST: "127.0.0.1",
        NATS_PORT: String(ports[i]),
        NATS_MONITOR_PORT: String(ports[3 + i]),
        NATS_CLUSTER_PORT: String(ports[6 + i]),
        NATS_ROUTES: JSON.stringify(routes),
        NATS_STORE_DIR: join(dir, `store-${i}`),
        NATS_MAX_FILE_STORE: "64MB",
      });
    }
    const monitorPorts = ports.slice(3, 6) as number[];
    await waitFor(
      async () => {
        const health = await Promise.all(monitorPorts.map((p) => monitor(p, "/healthz").catch(() => undefined)));
        return health.every((h) => h?.status === 200);
      },
      { timeoutMs: 20_000, message: "the 3 nodes did not become healthy" },
    );
    const jsz = await monitor<{ meta_cluster: { cluster_size: number; leader?: string } }>(
      monitorPorts[0] as number,
      "/jsz",
    );
    expect(jsz.body.meta_cluster.cluster_size).toBe(3);
    expect(jsz.body.meta_cluster.leader).toMatch(/^nats-[012]$/);
  });

  it("the dev configuration runs a standalone JetStream node", async () => {
    const objects = rendered.dev ?? [];
    const dir = writeNatsConfig(objects);
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    startNode(natsServerBinary(), join(dir, "nats.conf"), {
      ...natsEnv(objects),
      ...SERVICE_PASSWORDS,
      NATS_SERVER_NAME: "nats-0",
      NATS_HOST: "127.0.0.1",
      NATS_PORT: String(port),
      NATS_MONITOR_PORT: String(monitorPort),
      NATS_STORE_DIR: join(dir, "store"),
    });
    await waitFor(async () => (await monitor(monitorPort, "/healthz").catch(() => undefined))?.status === 200, {
      timeoutMs: 15_000,
      message: "the dev node did not become healthy",
    });
    const jsz = await monitor<{ config: { store_dir: string }; meta_cluster?: unknown }>(monitorPort, "/jsz");
    expect(jsz.body.config.store_dir).toBe(join(dir, "store", "jetstream"));
    expect(jsz.body.meta_cluster).toBeUndefined();
  });
});
