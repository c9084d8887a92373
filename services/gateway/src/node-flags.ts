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
 * @example
 *   spawn(process.execPath, [...GATEWAY_NODE_FLAGS, "--import", "tsx", "services/gateway/src/main.ts"])
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4"];
