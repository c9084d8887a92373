import { TestKitError, TestKitErrorCode } from "./errors.ts";
import { getJson, type Jsz, type Varz } from "./monitor.ts";
import type { NatsServer, NatsServerOptions } from "./nats-server.ts";

/**
 * A handle for a server the kit does not own (env `NATS_URL`; the first URL
 * when it lists several). Its monitor is `NATS_MONITOR_URL`, default
 * `http://<host>:8222`. `stop()` leaves the server running; `restart()` and
 * `kill()` reject with `NOT_SUPPORTED`. Options that need the kit to write
 * the server's config (`systemAccount`, `config`, `storeDir`) are refused.
 */
export function externalNatsServer(natsUrl: string, options: NatsServerOptions): NatsServer {
  const refused = (["systemAccount", "config", "storeDir"] as const).filter((key) => options[key]);
  if (refused.length > 0) {
    throw new TestKitError(
      TestKitErrorCode.NOT_SUPPORTED,
      `NATS_URL is set, so the kit uses that server and cannot apply ${refused.join(", ")}; unset NATS_URL to let the kit spawn a configured nats-server`,
    );
  }
  const first = (natsUrl.split(",")[0] ?? "").trim();
  const url = first.includes("://") ? first : `nats://${first}`;
  const parsed = new URL(url);
  const port = Number(parsed.port || 4222);
  const monitorUrl = (process.env.NATS_MONITOR_URL ?? `http://${parsed.hostname}:8222`).replace(/\/+$/, "");
  const notOwned = (operation: string) =>
    Promise.reject(
      new TestKitError(
        TestKitErrorCode.NOT_SUPPORTED,
        `cannot ${operation} the external nats-server at ${url} (NATS_URL is set); unset NATS_URL to let the kit spawn one`,
      ),
    );
  return {
    url,
    port,
    monitorUrl,
    storeDir: "",
    name: options.name ?? "external",
    pid: undefined,
    users: undefined,
    log: () => "",
    stop: async () => {},
    kill: () => notOwned("kill"),
    restart: () => notOwned("restart"),
    running: () => true,
    varz: () => getJson<Varz>(`${monitorUrl}/varz`),
    jsz: () => getJson<Jsz>(`${monitorUrl}/jsz?accounts=true&streams=true&consumers=true&config=true`),
    [Symbol.asyncDispose]: async () => {},
  };
}
