import { TURN_LEASE_GRACE_MS } from "@threadline/protocol";
import type { TurnRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { sweepDue } from "./turn-sweeper.ts";

describe("sweepDue", () => {
  const startedAt = 1_000_000;
  const timing = { startedAt, startGraceMs: 5000 };
  const expired = startedAt - 60_000; // a lease that ran out long before this worker started (whole-stack restart)
  const cases: [string, Pick<TurnRecord, "status" | "leaseUntil">, number, boolean][] = [
    [
      "a lease still current is left alone",
      { status: "running", leaseUntil: startedAt + 20_000 },
      startedAt + 10_000,
      false,
    ],
    [
      "within the grace after the lease is left alone",
      { status: "running", leaseUntil: startedAt + 20_000 },
      startedAt + 20_000 + TURN_LEASE_GRACE_MS,
      false,
    ],
    [
      "past lease + grace it is swept",
      { status: "running", leaseUntil: startedAt + 20_000 },
      startedAt + 20_001 + TURN_LEASE_GRACE_MS,
      true,
    ],
    // Regression (issue 13): after a whole-stack restart every lease has run out; the redelivered input must get its chance to take the turn over first.
    [
      "right after this worker started, even an old lease waits",
      { status: "running", leaseUntil: expired },
      startedAt + 4999,
      false,
    ],
    [
      "once the start grace passed, an old lease is swept",
      { status: "running", leaseUntil: expired },
      startedAt + 5000,
      true,
    ],
    ["final turns are never swept", { status: "interrupted", leaseUntil: expired }, startedAt + 60_000, false],
    ["pending turns are never swept (no worker claimed them)", { status: "pending" }, startedAt + 60_000, false],
    [
      "running without leaseUntil (an SDK that does not renew) is not swept",
      { status: "running" },
      startedAt + 60_000,
      false,
    ],
  ];
  it.each(cases)("%s", (_name, entry, now, expected) => {
    expect(sweepDue(entry, now, timing)).toBe(expected);
  });
});
