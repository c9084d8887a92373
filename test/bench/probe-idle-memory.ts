import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "@threadline/test-kit";
import { spawnGateway } from "../integration/support/gateway-process.ts";
import type { GatewaySocket } from "./gateway-socket.ts";
import { openProbeReaders } from "./probe-readers.ts";

/**
 * Probe: what one idle live reader costs the gateway and nats-server — the
 * peers bench's memory workload (readers attached "now", 2 per session, one
 * user per session) with the gateway's heap figures beside its RSS. The
 * gateway runs with heap-report.ts preloaded (`--expose-gc`: figures after a
 * full GC, so they are live memory, not garbage).
 *
 *   node --import tsx test/bench/probe-idle-memory.ts [readers=2000] [snapshot]
 *
 * `snapshot` also writes a heap snapshot of the gateway after the readers
 * attached (the path is printed; open it in Chrome DevTools).
 */
const readers = Number(process.argv[2] ?? 2000);
const snapshot = process.argv[3] === "snapshot";
const dir = mkdtempSync(join(tmpdir(), "tl-probe-memory-"));
const preload = fileURLToPath(new URL("./heap-report.ts", import.meta.url));

const rssOf = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

const nats = await startNatsServer();
const gateway = await spawnGateway(nats.url, {
  THREADLINE_GATEWAY_ID: "probe-memory",
  NODE_OPTIONS: `--expose-gc --import tsx --import ${preload}`,
  HEAP_REPORT_DIR: dir,
});

interface HeapReport {
  memory: NodeJS.MemoryUsage;
  spaces: { name: string; size: number; used: number }[];
}

/** Asks the gateway for its report and waits for the file (a probe, not a test: polling is fine). */
async function report(): Promise<HeapReport> {
  const file = join(dir, `${gateway.pid}.json`);
  rmSync(file, { force: true });
  process.kill(gateway.pid, "SIGUSR2");
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 20));
  return JSON.parse(readFileSync(file, "utf8")) as HeapReport;
}

const sockets: GatewaySocket[] = [];
try {
  const before = { gateway: gateway.rss(), nats: rssOf(nats.pid!), heap: await report() };
  const sessions = await openProbeReaders(gateway.url, readers, sockets);
  // Settle as the peers bench does before reading RSS.
  await new Promise((r) => setTimeout(r, 1000));
  const after = { gateway: gateway.rss(), nats: rssOf(nats.pid!), heap: await report() };
  // After the figures: writing a snapshot grows the gateway's RSS by more than the readers do.
  if (snapshot) {
    writeFileSync(join(dir, "snapshot"), "");
    await report();
  }
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const perReader = (a: number, b: number) => `${((b - a) / readers / 1024).toFixed(2)} KB`;
  const rows: [string, number, number][] = [
    ["gateway rss", before.gateway, after.gateway],
    ["nats-server rss", before.nats, after.nats],
    ["gateway heapUsed (after gc)", before.heap.memory.heapUsed, after.heap.memory.heapUsed],
    ["gateway heapTotal", before.heap.memory.heapTotal, after.heap.memory.heapTotal],
    ["gateway external", before.heap.memory.external, after.heap.memory.external],
    ["gateway arrayBuffers", before.heap.memory.arrayBuffers, after.heap.memory.arrayBuffers],
  ];
  for (const space of after.heap.spaces) {
    const was = before.heap.spaces.find((s) => s.name === space.name);
    rows.push([`  ${space.name} size`, was?.size ?? 0, space.size]);
  }
  console.log(`${readers} idle live readers (${sessions} sessions)`);
  for (const [name, b, a] of rows)
    console.log(`${name.padEnd(30)} ${mb(b).padStart(8)} → ${mb(a).padStart(8)} MB  ${perReader(b, a)}/reader`);
  if (snapshot) console.log(`heap snapshot: ${join(dir, `${gateway.pid}.heapsnapshot`)}`);
} finally {
  await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  await gateway.kill();
  await nats.stop();
  if (!snapshot) rmSync(dir, { recursive: true, force: true });
}
