import { defineConfig } from "vitest/config";

// One suite: pure unit tests beside the code (libs/*/src, services/*/src) and
// integration tests under test/integration that spawn real nats-server
// processes. Files run in parallel on at most two workers (the CI machine has
// two cores); each file gets its own nats-server on random ports.
export default defineConfig({
  test: {
    include: [
      "libs/*/src/**/*.test.ts",
      "services/*/src/**/*.test.ts",
      "test/kit/src/**/*.test.ts",
      "deploy/local/**/*.test.ts",
      "test/integration/**/*.test.ts",
      "test/deploy/**/*.test.ts",
      // Pure unit tests of the benches' computations (ratios, offsets); the benches themselves never run here.
      "test/bench/**/*.test.ts",
      // Real Chromium against the whole demo stack; these files set their own (longer) timeouts.
      "test/browser/**/*.test.ts",
    ],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 15_000,
  },
});
