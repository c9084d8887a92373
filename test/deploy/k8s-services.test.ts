import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig as loadGatewayConfig } from "@threadline/gateway";
import { GATEWAY_NODE_FLAGS } from "@threadline/gateway/node-flags";
import { loadNotifierConfig } from "@threadline/notifier";
import { loadPresenceConfig } from "@threadline/presence";
import { beforeAll, describe, expect, it } from "vitest";
import webPush from "web-push";
import {
  baseName,
  type ContainerEnv,
  container,
  containerEnv,
  find,
  type K8sObject,
  ROOT,
  recordingEnv,
  render,
} from "./support/k8s-manifests.ts";

/**
 * The Threadline services' workloads in deploy/k8s against the services'
 * own code: the environment a pod starts with is accepted by the service's
 * config loader, and every variable the manifests set is one the loader
 * reads (a misspelt name would be ignored silently); the NATS user and
 * password are the ones accounts.conf defines for it; probes hit the port
 * the service listens on; pods run unprivileged with requests and limits;
 * the gateway serves the public half of the notifier's VAPID key pair; the
 * Dockerfiles build what the manifests run.
 */
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const SERVICES = ["gateway", "presence", "notifier"] as const;
type Service = (typeof SERVICES)[number];
const OVERLAYS = ["dev", "prod"] as const;
const CASES = OVERLAYS.flatMap((overlay) => SERVICES.map((service) => [overlay, service] as const));

interface LoadedConfig {
  nats: { user?: string; pass?: string };
  provision: boolean;
  /** The port its HTTP side (probes, /metrics) listens on. */
  httpPort: number;
}
/** Each service's config loader: what its main.ts runs at start. */
const LOADERS: Record<Service, (env: Record<string, string>) => LoadedConfig> = {
  gateway: (env) => {
    const config = loadGatewayConfig(env);
    return { ...config, httpPort: config.port };
  },
  presence: loadPresenceConfig,
  notifier: loadNotifierConfig,
};
/** Read by node, not by the service. */
const RUNTIME_VARIABLES = new Set(["NODE_OPTIONS"]);

const VAPID = webPush.generateVAPIDKeys();
/**
 * What an operator puts into the Secrets the prod overlay expects (deploy/k8s/README.md, "Secrets"):
 * the keys of the README's table with well-formed values.
 */
const EXTERNAL_SECRETS: Record<string, Record<string, string>> = {
  "threadline-jwt": { THREADLINE_JWT_JWKS_URL: "https://auth.example.com/.well-known/jwks.json" },
  "threadline-nats": {
    TL_NATS_GATEWAY_PASS: "g",
    TL_NATS_PRESENCE_PASS: "p",
    TL_NATS_NOTIFIER_PASS: "n",
    TL_NATS_SYS_PASS: "s",
    TL_NATS_AGENT_EXAMPLE_AGENT_PASS: "a",
  },
  "threadline-vapid": {
    THREADLINE_VAPID_PUBLIC_KEY: VAPID.publicKey,
    THREADLINE_VAPID_PRIVATE_KEY: VAPID.privateKey,
    THREADLINE_VAPID_SUBJECT: "mailto:ops@example.com",
  },
  "threadline-webhook": {
    THREADLINE_WEBHOOK_URL: "https://app.example.com/hooks/threadline",
    THREADLINE_WEBHOOK_SECRET: "whsec_new,whsec_old",
  },
};

const rendered: Record<string, K8sObject[]> = {};
beforeAll(() => {
  for (const overlay of OVERLAYS) rendered[overlay] = render(overlay);
}, 180_000);

/**
 * The container's start environment in `overlay`. `external`: the Secrets not rendered (prod: every
 * documented one unless given; dev: none, it must run as generated).
 */
function envOf(overlay: string, service: string, external?: Record<string, Record<string, string>>): ContainerEnv {
  const objects = rendered[overlay] ?? [];
  return containerEnv(objects, find(objects, "Deployment", service), service, {
    external: external ?? (overlay === "prod" ? EXTERNAL_SECRETS : {}),
    podName: `${service}-6d4cf56db6-x2xkq`,
  });
}

describe("deploy/k8s: the services' workloads", () => {
  it.each(CASES)(
    "%s %s: the pod's environment passes the service's config loader, every variable is read",
    (overlay, service) => {
      const { env, names } = envOf(overlay, service);
      const recorded = recordingEnv(env);
      const config = LOADERS[service](recorded.env);
      const unread = [...names].filter((name) => !recorded.read.has(name) && !RUNTIME_VARIABLES.has(name));
      expect(unread, "variables the manifests set that the service never reads").toEqual([]);
      // The service's own least-privilege NATS user, with the password variable accounts.conf gives that user.
      expect(config.nats.user).toBe(service);
      const objects = rendered[overlay] ?? [];
      const nats = container(find(objects, "Deployment", service), service).env.find(
        (e: { name: string }) => e.name === "NATS_PASS",
      );
      const accounts = find(objects, "ConfigMap", "nats-config").data["accounts.conf"] as string;
      expect(accounts).toContain(`user: "${service}", password: $${nats.valueFrom.secretKeyRef.key}`);
      expect(baseName(nats.valueFrom.secretKeyRef.name)).toBe("threadline-nats");
      // Only the gateway's NATS user may create the stream and buckets.
      expect(config.provision).toBe(service === "gateway");
    },
  );

  it.each(CASES)("%s %s: probes reach the port the service listens on", (overlay, service) => {
    const { httpPort } = LOADERS[service](envOf(overlay, service).env);
    const c = container(find(rendered[overlay] ?? [], "Deployment", service), service);
    expect(c.ports).toHaveLength(1);
    expect(c.ports[0].containerPort).toBe(httpPort);
    for (const probe of [c.readinessProbe, c.livenessProbe]) expect(probe.httpGet.port).toBe(c.ports[0].name);
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    // The notifier serves no traffic: ready = alive (its /healthz: the NATS connection is open).
    expect(c.readinessProbe.httpGet.path).toBe(service === "notifier" ? "/healthz" : "/readyz");
  });

  it.each(CASES)(
    "%s %s: unprivileged, read-only root, requests and limits, one at a time in disruptions",
    (overlay, service) => {
      const objects = rendered[overlay] ?? [];
      const deployment = find(objects, "Deployment", service);
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        seccompProfile: { type: "RuntimeDefault" },
      });
      const c = container(deployment, service);
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      // tsx caches its compiled sources in /tmp: the only writable path.
      expect(c.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
      expect(pod.volumes).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
      for (const kind of ["requests", "limits"]) {
        expect(c.resources[kind].cpu, kind).toBeDefined();
        expect(c.resources[kind].memory, kind).toBeDefined();
      }
      expect(deployment.spec.template.metadata.labels["threadline.io/nats-client"]).toBe("true");
      const pdb = find(objects, "PodDisruptionBudget", service);
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    },
  );

  it.each(OVERLAYS)("%s gateway: probes, graceful drain within the grace period, resources", (overlay) => {
    const objects = rendered[overlay] ?? [];
    const deployment = find(objects, "Deployment", "gateway");
    const c = container(deployment, "gateway");
    const [sleep, seconds] = c.lifecycle.preStop.exec.command as string[];
    expect(sleep).toBe("sleep");
    const drainMs = Number(find(objects, "ConfigMap", "threadline-gateway-config").data.THREADLINE_DRAIN_TIMEOUT_MS);
    expect(drainMs).toBeGreaterThan(0);
    // The kubelet sends SIGKILL after the grace period: preStop + the gateway's drain must fit.
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(
      Number(seconds) + drainMs / 1000,
    );
    const service = find(objects, "Service", "gateway");
    const ingress = find(objects, "Ingress", "gateway");
    expect(ingress.spec.rules[0].http.paths[0].backend.service.name).toBe(service.metadata.name);
    expect(
      Number(ingress.metadata.annotations?.["nginx.ingress.kubernetes.io/proxy-read-timeout"]),
    ).toBeGreaterThanOrEqual(3600);
  });

  it.each(OVERLAYS)("%s: the gateway serves the public half of the notifier's VAPID key pair", (overlay) => {
    const gateway = loadGatewayConfig(envOf(overlay, "gateway").env);
    const notifier = loadNotifierConfig(envOf(overlay, "notifier").env);
    expect(notifier.vapid).toBeDefined();
    expect(gateway.vapidPublicKey).toBe(notifier.vapid?.publicKey);
    // dev generates a real pair (the loader signed a VAPID JWT with it); prod takes the operator's.
    if (overlay === "prod") expect(gateway.vapidPublicKey).toBe(VAPID.publicKey);
  });

  it("prod: the notifier needs Web Push keys or a webhook, either alone will do; the gateway runs without keys", () => {
    const { "threadline-vapid": vapid, "threadline-webhook": webhook, ...required } = EXTERNAL_SECRETS;
    expect(() => loadNotifierConfig(envOf("prod", "notifier", required).env)).toThrow(/nothing to deliver/);
    expect(
      loadNotifierConfig(envOf("prod", "notifier", { ...required, "threadline-webhook": webhook ?? {} }).env),
    ).toMatchObject({ vapid: undefined, webhook: { secrets: ["whsec_new", "whsec_old"] } });
    expect(
      loadNotifierConfig(envOf("prod", "notifier", { ...required, "threadline-vapid": vapid ?? {} }).env),
    ).toMatchObject({ webhook: undefined, vapid: { publicKey: VAPID.publicKey } });
    // No keys: GET /v1/push/vapid-public-key answers 404 PUSH_DISABLED, everything else runs.
    expect(loadGatewayConfig(envOf("prod", "gateway", required).env).vapidPublicKey).toBeUndefined();
  });

  it("prod notifier: the grace period outlasts a request under way at SIGTERM", () => {
    const config = loadNotifierConfig(envOf("prod", "notifier").env);
    const pod = find(rendered.prod ?? [], "Deployment", "notifier").spec.template.spec;
    expect(config.webhook?.timeoutMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.webhook?.timeoutMs ?? 0);
  });
});

describe("Dockerfiles", () => {
  // The images install `npm ci --omit=dev --workspace services/<service>`: that works only if every
  // package the service's sources (and the workspace libraries they import) use is a declared
  // dependency of its package.json — a root devDependency would be missing in the image.
  it.each(SERVICES)("services/%s: every imported package is a declared dependency", (service) => {
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
  });

  it.each([
    ["gateway", 8080],
    ["presence", 8081],
    ["notifier", 8082],
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
    // The gateway runs with its node flags (services/gateway/src/node-flags.ts), the others with none.
    const flags = service === "gateway" ? GATEWAY_NODE_FLAGS : [];
    expect(cmd).toEqual(["node", ...flags, "--import", "tsx", `services/${service}/src/main.ts`]);
    // Production dependencies of this service only (see the test above for why that install suffices).
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
    for (const overlay of OVERLAYS) {
      const c = container(find(rendered[overlay] ?? [], "Deployment", service), service);
      expect(c.image).toBe(
        overlay === "dev" ? `threadline/${service}:dev` : `registry.example.com/threadline/${service}:0.1.0`,
      );
      expect(c.ports[0].containerPort).toBe(port);
    }
  });
});
