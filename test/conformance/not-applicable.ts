/** The gateway's long-poll timeout in the conformance run (the suite's test timeouts allow for it). */
export const LONG_POLL_TIMEOUT_MS = 5_000;

/**
 * Conformance tests that cannot apply to the gateway, each with its reason
 * (services/gateway/README.md lists them too). They are excluded by name in
 * vitest.config.ts; everything else must pass.
 */
export const NOT_APPLICABLE: readonly { test: string; reason: string }[] = [];
