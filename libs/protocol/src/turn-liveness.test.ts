import { describe, expect, it } from "vitest";
import { TURN_LEASE_GRACE_MS, type TurnLiveness, turnLiveness } from "./turn-liveness.ts";
import type { TurnStatus } from "./turns.ts";

describe("turnLiveness", () => {
  const lease = 100_000;
  const cases: [string, TurnStatus, number | undefined, number, TurnLiveness][] = [
    ["pending turns have no worker", "pending", undefined, lease, "not-running"],
    ["final turns have no worker", "completed", lease, lease * 2, "not-running"],
    ["interrupted is final too", "interrupted", lease, lease * 2, "not-running"],
    ["a running turn inside its lease", "running", lease, lease - 1, "alive"],
    ["a lease just run out is still inside the grace", "running", lease, lease + TURN_LEASE_GRACE_MS, "alive"],
    ["past lease + grace the worker is gone", "running", lease, lease + TURN_LEASE_GRACE_MS + 1, "orphaned"],
    ["long after, whatever ran since", "running", lease, lease + 3_600_000, "orphaned"],
    ["no leaseUntil (an SDK that does not renew)", "running", undefined, lease * 10, "unknown"],
  ];
  it.each(cases)("%s", (_name, status, leaseUntil, now, expected) => {
    const entry = leaseUntil === undefined ? { status } : { status, leaseUntil };
    expect(turnLiveness(entry, now)).toBe(expected);
  });
});
