import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The chaos suite (`npm run test:chaos`): each file starts a 3-node
// nats-server cluster, two gateway processes and two presence replicas, and
// breaks them under load. Files run one at a time so fault timings and
// recovery times are not distorted by another scenario on the two CI cores.
export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/chaos/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
