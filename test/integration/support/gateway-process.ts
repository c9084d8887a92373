import { readFileSync, writeFileSync } from "node:fs";
import { GATEWAY_NODE_FLAGS } from "@threadline/gateway/node-flags";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { afterAll, beforeAll } from "vitest";
import { gatewayProcessEnv, spawnService } from "./service-process.ts";

/** A gateway running as its own process (so it can be SIGKILLed and its memory measured). */
export interface GatewayProcess extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Resident set size in bytes, from /proc. */
  rss(): number;
  /** SIGKILL, resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful drain), resolves when the process exited. */
  stop(): Promise<void>;
  log(): string;
}

/**
 * Extra Node.js flags for gateways spawned here, from `BENCH_GATEWAY_NODE_FLAGS` (space-separated, after
 * GATEWAY_NODE_FLAGS so they win, e.g. `--max-semi-space-size=16 --trace-gc`): to measure a flag's effect
 * in a bench without editing the one list every launcher uses.
 */
function benchGatewayFlags(): string[] {
  return process.env.BENCH_GATEWAY_NODE_FLAGS?.split(" ").filter(Boolean) ?? [];
}

export async function spawnGateway(natsUrl: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const service = await spawnService({
    name: "gateway",
    command: process.execPath,
    args: [...GATEWAY_NODE_FLAGS, ...benchGatewayFlags(), "--import", "tsx", "services/gateway/src/main.ts"],
    env: { ...gatewayProcessEnv(natsUrl, process.env.TEST_LOG_LEVEL ?? "warn"), ...env },
    readyEvent: "gateway-ready",
  });
  const port = service.ready.port as number;
  const handle: GatewayProcess = {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    port,
    pid: service.pid,
    rss() {
      const status = readFileSync(`/proc/${service.pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb * 1024;
    },
    kill: () => service.signal("SIGKILL"),
    async stop() {
      await service.signal("SIGTERM");
      // BENCH_GATEWAY_LOG=FILE: the gateway's last log lines (stdout and stderr, e.g. --trace-gc) for a bench run.
      if (process.env.BENCH_GATEWAY_LOG) writeFileSync(process.env.BENCH_GATEWAY_LOG, service.log());
    },
    log: service.log,
    [Symbol.asyncDispose]: () => handle.kill(),
  };
  return handle;
}

/**
 * A nats-server and one gateway process per entry of `envs` (extra environment, spawned in order)
 * for a test file: started before its first test; the gateways killed and the server stopped after
 * its last. Read it inside tests.
 */
export function useGatewayProcesses<const E extends readonly Record<string, string>[]>(
  ...envs: E
): { readonly nats: NatsServer; readonly gateways: { -readonly [K in keyof E]: GatewayProcess } } {
  let nats: NatsServer | undefined;
  const gateways: GatewayProcess[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
    for (const env of envs) gateways.push(await spawnGateway(nats.url, env));
  });
  afterAll(async () => {
    for (const gateway of gateways) await gateway.kill();
    await nats?.stop();
  });
  return {
    get nats() {
      if (!nats) throw new Error("the nats-server is not started (use it inside a test)");
      return nats;
    },
    gateways: gateways as { -readonly [K in keyof E]: GatewayProcess },
  };
}
