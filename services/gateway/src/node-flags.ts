/**
 * The Node.js flags the gateway process runs with — the one list every
 * launcher uses: the Dockerfile's CMD and the `main.ts` shebang (checked by
 * node-flags.test.ts), `npm start` (deploy/local/start.ts), and the test and
 * bench processes (test/integration/support/gateway-process.ts,
 * test/bench/scale-processes.ts).
 *
 * `--max-semi-space-size=4` (MB): V8's young generation defaults to 16 MB
 * semi-spaces on 64-bit, and a gateway accepting thousands of sockets fills
 * them with short-lived garbage before the first scavenge — RSS an idle
 * socket does not need. Measured with the peers bench's memory workload
 * (2,000 idle live readers, `PEERS_ONLY=threadline npm run bench -- peers
 * --quick --events 0 --resumes 1 --duration 0`): gateway growth +48 MB
 * (default) → +14 MB (4 MB); 1 and 2 MB were worse (+37 / +27 MB: objects
 * promoted to the old generation early), 8 MB +32 MB.
 *
 * `--heap-growing-percent=30`: after a full GC V8 lets the old generation
 * grow to live × a factor it picks from the allocation rate — up to 4× after
 * a burst such as thousands of sockets attaching — and the pages it committed
 * stay in RSS once the burst is over (heap after a full GC: 3.6 KB per idle
 * reader; old space committed: 11.5 KB). A fixed 1.3× (V8 still grows by at
 * least its minimum step) keeps them near the live size. Same workload,
 * alternated with the flag off (whole quick peers run, load 4–10):
 * gateway +15.1 / +15.2 / +15.6 / +17.5 MB vs +28.0 / +28.1 / +32.8 /
 * +39.9 MB; resume and live p99 within the run-to-run noise (load 4.2:
 * resume 85.8 vs 96.1 ms, live 229 vs 699 ms). `--optimize-for-size` saved
 * as much but slowed resumes and made the agent refuse publishes in the live
 * workload (2 of 2 runs).
 *
 * @example
 *   spawn(process.execPath, [...GATEWAY_NODE_FLAGS, "--import", "tsx", "services/gateway/src/main.ts"])
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4", "--heap-growing-percent=30"];
