import { get } from "node:http";

/** Fields of `/varz` the kit and its tests use; the server sends many more. */
export interface Varz {
  server_id: string;
  server_name: string;
  version: string;
  port: number;
  http_port: number;
  connect_urls?: string[];
  jetstream?: { config?: { store_dir?: string } };
  [field: string]: unknown;
}

export interface JszReplica {
  name: string;
  current: boolean;
  active: number;
  offline?: boolean;
  peer?: string;
  lag?: number;
}

export interface JszStreamDetail {
  name: string;
  cluster?: { name?: string; leader?: string; replicas?: JszReplica[] };
  state: { messages: number; bytes: number; first_seq: number; last_seq: number; consumer_count: number };
  config?: Record<string, unknown>;
  consumer_detail?: Array<{ name: string; [field: string]: unknown }>;
  [field: string]: unknown;
}

/** Fields of `/jsz?accounts=true&streams=true&consumers=true&config=true` the kit and its tests use. */
export interface Jsz {
  server_id: string;
  /** True when JetStream is off on this server. */
  disabled?: boolean;
  config?: { max_memory: number; max_storage: number; store_dir: string };
  streams: number;
  consumers: number;
  messages: number;
  meta_cluster?: { name?: string; leader?: string; peer?: string; cluster_size?: number; replicas?: JszReplica[] };
  account_details?: Array<{ name: string; id: string; stream_detail?: JszStreamDetail[]; [field: string]: unknown }>;
  [field: string]: unknown;
}

/**
 * GET a monitoring endpoint and parse its JSON body. A fresh connection per
 * request (no keep-alive pool), so nothing lingers after the server is gone.
 * Rejects on a non-2xx status unless `acceptStatus` allows it.
 */
export function getJson<T>(url: string, options: { timeoutMs?: number; acceptStatus?: number[] } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, timeout: options.timeoutMs ?? 2_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const status = response.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString("utf8");
        if ((status < 200 || status > 299) && !options.acceptStatus?.includes(status)) {
          reject(new Error(`GET ${url}: HTTP ${status} ${body.slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(new Error(`GET ${url}: invalid JSON`, { cause: error }));
        }
      });
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url}: timed out`)));
    request.on("error", reject);
  });
}

/**
 * What a (re)start waits for: `"healthy"` — `/healthz` ok (below);
 * `"serving"` — `/healthz?js-enabled-only=true` ok: the process accepts
 * clients with JetStream enabled, maybe still catching up with its cluster
 * (what the deployment's liveness probe checks).
 */
export type Readiness = "healthy" | "serving";

/**
 * Whether `/healthz` (or, `"serving"`, `/healthz?js-enabled-only=true`) reports ok. On 2.9 this means: accepting client
 * connections and, with JetStream, JetStream is up — for a cluster node, in
 * contact with a meta leader. False (never a rejection) while not yet healthy.
 */
export async function isHealthy(monitorUrl: string, ready: Readiness = "healthy"): Promise<boolean> {
  try {
    const query = ready === "serving" ? "?js-enabled-only=true" : "";
    const health = await getJson<{ status?: string }>(`${monitorUrl}/healthz${query}`, {
      timeoutMs: 1_000,
      acceptStatus: [503],
    });
    return health.status === "ok";
  } catch {
    return false;
  }
}
