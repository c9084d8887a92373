import { defineConfig } from "vitest/config";
import { NOT_APPLICABLE } from "./not-applicable.ts";

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// `npm run test:conformance`: the Durable Streams conformance suite against the gateway. Tests that cannot
// apply (not-applicable.ts, with reasons) are excluded by name; the rest must pass.
export default defineConfig({
  test: {
    include: ["test/conformance/**/*.conformance.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    ...(NOT_APPLICABLE.length > 0
      ? { testNamePattern: `^(?!.*(${NOT_APPLICABLE.map((t) => escapeRegExp(t.test)).join("|")})$)` }
      : {}),
  },
});
