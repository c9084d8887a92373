import { readFileSync } from "node:fs";
import { startNatsServer } from "@threadline/test-kit";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import type { GatewaySocket } from "./gateway-socket.ts";
import { openProbeReaders } from "./probe-readers.ts";

/**
 * Probe: the gateway's CPU for presence heartbeats alone — `readers` idle
 * sockets attached "now" (2 per session, one user per session), nothing
 * published; each attachment's presence entry is re-written every
 * `THREADLINE_PRESENCE_HEARTBEAT_MS` (default 2 s), so the gateway's CPU over
 * the window is almost all heartbeat writes. Also nats-server's.
 *
 *   node --import tsx test/bench/probe-heartbeat-cpu.ts [readers=4000] [seconds=10]
 */
const readers = Number(process.argv[2] ?? 4000);
const seconds = Number(process.argv[3] ?? 10);

/** CPU seconds (user + system) a process has used so far. */
const cpuOf = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
};

const nats = await startNatsServer();
const gateway = await spawnGateway(nats.url, { THREADLINE_GATEWAY_ID: "probe-heartbeat" });
const sockets: GatewaySocket[] = [];
try {
  await openProbeReaders(gateway.url, readers, sockets);
  // Let the attach burst pass (a window, not a synchronisation: this is a probe).
  await new Promise((r) => setTimeout(r, 3000));
  const before = { gateway: cpuOf(gateway.pid), nats: cpuOf(nats.pid!) };
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = { gateway: cpuOf(gateway.pid) - before.gateway, nats: cpuOf(nats.pid!) - before.nats };
  const pct = (s: number) => `${((s / seconds) * 100).toFixed(1)} % of a core`;
  console.log(
    `${readers} idle readers, ${seconds} s: gateway ${pct(used.gateway)}, nats-server ${pct(used.nats)}; ` +
      `gateway ${((used.gateway / seconds / (readers / 2)) * 1e6).toFixed(1)} µs per heartbeat write (at 2 s)`,
  );
} finally {
  await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  await gateway.stop();
  await nats.stop();
}
