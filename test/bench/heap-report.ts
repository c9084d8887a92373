import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8";

/**
 * Preload (`--import`) for probe-idle-memory.ts: on SIGUSR2 the process runs a
 * full GC when it can (`--expose-gc`), then writes its memory figures
 * (`process.memoryUsage()`, V8 heap and per-space statistics) to
 * `$HEAP_REPORT_DIR/<pid>.json` — and a heap snapshot beside them
 * (`<pid>.heapsnapshot`) when the file `$HEAP_REPORT_DIR/snapshot` exists.
 */
const dir = process.env.HEAP_REPORT_DIR;
if (dir) {
  process.on("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    const report = {
      memory: process.memoryUsage(),
      heap: getHeapStatistics(),
      spaces: getHeapSpaceStatistics().map((s) => ({
        name: s.space_name,
        size: s.space_size,
        used: s.space_used_size,
      })),
    };
    // The snapshot first: the report file appearing tells the probe that both are complete.
    if (existsSync(join(dir, "snapshot"))) writeHeapSnapshot(join(dir, `${process.pid}.heapsnapshot`));
    // Written aside and renamed: the report appears whole, so the probe can read it as soon as it exists.
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
  });
}
