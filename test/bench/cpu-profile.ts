import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

/**
 * Preload (`--import`) that records a V8 CPU profile of the whole process
 * and writes it to `$CPU_PROFILE_DIR/<pid>.cpuprofile` when the process
 * exits (Chrome DevTools / speedscope open it). `--cpu-prof` does the same
 * but is not allowed in NODE_OPTIONS, which is how the `peers` bench reaches
 * the gateway and agent processes (PEERS_CPU_PROF).
 */
const dir = process.env.CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.start");
  process.once("exit", () => {
    // The in-process session answers synchronously, so this completes inside the exit handler.
    session.post("Profiler.stop", (error, result) => {
      if (!error) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
