import { ErrorCode, ThreadlineError, type TurnEndData } from "@threadline/protocol";
import type { TurnRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { endOfTurn, planClaim, RESTORE_END_WITHIN_MS, shouldRestoreEnd, takeoverVerdict } from "./turn-rules.ts";

const running: TurnRecord = { status: "running", agent: "pool", worker: "w2", updatedAt: 1, leaseUntil: 2 };
const at = (value: Partial<TurnRecord>, revision = 7) => ({
  value: { updatedAt: 0, ...value } as TurnRecord,
  revision,
});
const end = () => "end-1";

describe("planClaim", () => {
  it.each<[string, ReturnType<typeof at> | undefined, boolean, unknown]>([
    [
      "no entry → create, start",
      undefined,
      false,
      { write: { value: { ...running, attempt: 0 }, revision: 0 }, outcome: "start" },
    ],
    [
      "pending → CAS, start",
      at({ status: "pending" }),
      false,
      { write: { value: { ...running, attempt: 0 }, revision: 7 }, outcome: "start" },
    ],
    [
      "running under another worker → CAS, takeover, attempt + 1",
      at({ status: "running", worker: "w1", attempt: 1 }),
      false,
      { write: { value: { ...running, attempt: 2 }, revision: 7 }, outcome: "takeover" },
    ],
    [
      "no entry under an operator → create cancelled, skipped",
      undefined,
      true,
      { write: { value: { ...running, status: "cancelled", skipped: "operator" }, revision: 0 }, outcome: "skipped" },
    ],
    [
      "running under an operator → still taken over",
      at({ status: "running", worker: "w1" }),
      true,
      { write: { value: { ...running, attempt: 1 }, revision: 7 }, outcome: "takeover" },
    ],
    ["completed → ended", at({ status: "completed" }), false, { outcome: "ended" }],
    ["cancelled without a cancel event (swept) → ended", at({ status: "cancelled" }), false, { outcome: "ended" }],
    [
      "cancelled while pending → CAS the closing turn.end id, close-cancelled",
      at({ status: "cancelled", cancelEvent: "c1", agent: "x", worker: "x" }),
      false,
      {
        write: {
          value: {
            updatedAt: 0,
            status: "cancelled",
            cancelEvent: "c1",
            agent: "pool",
            worker: "w2",
            endEvent: "end-1",
          },
          revision: 7,
        },
        outcome: "close-cancelled",
      },
    ],
    [
      "cancelled while pending, closing id known → close-cancelled with it, no write",
      at({ status: "cancelled", cancelEvent: "c1", endEvent: "e0" }),
      false,
      { outcome: "close-cancelled" },
    ],
    [
      "cancelled while pending under an operator → ended (the cancel closed it)",
      at({ status: "cancelled", cancelEvent: "c1" }),
      true,
      { outcome: "ended" },
    ],
  ])("%s", (_name, current, operatorOwned, plan) => {
    expect(planClaim(current, running, operatorOwned, end)).toEqual(plan);
  });
});

describe("takeoverVerdict", () => {
  it.each([
    [1, 3, "resume"],
    [3, 3, "resume"],
    [4, 3, "give-up"],
    [1, 0, "give-up"],
  ] as const)("attempt %i of at most %i takeovers → %s", (attempt, max, verdict) => {
    expect(takeoverVerdict(attempt, max)).toBe(verdict);
  });
});

describe("shouldRestoreEnd", () => {
  const closed = {
    status: "completed",
    agent: "pool",
    updatedAt: 1000,
    endEvent: "e",
    end: { status: "completed" },
  } as TurnRecord;
  it.each<[string, TurnRecord, string, number, boolean]>([
    ["this pool's final entry, soon after", closed, "pool", 1000 + RESTORE_END_WITHIN_MS - 1, true],
    ["past the window", closed, "pool", 1000 + RESTORE_END_WITHIN_MS, false],
    ["another pool's turn", closed, "other", 1000, false],
    ["an entry that names no turn.end", { ...closed, endEvent: undefined }, "pool", 1000, false],
    ["a skipped turn (operator): nothing was published", { ...closed, skipped: "operator" }, "pool", 1000, false],
  ])("%s → %s", (_name, entry, pool, now, expected) => {
    expect(shouldRestoreEnd(entry, pool, now)).toBe(expected);
  });
});

describe("endOfTurn", () => {
  const cancel = new ThreadlineError(ErrorCode.TURN_ENDED, "cancelled by alice");
  it.each<[string, Parameters<typeof endOfTurn>[0], TurnEndData]>([
    ["returned", { aborted: false }, { status: "completed" }],
    ["threw", { aborted: false, failure: "boom" }, { status: "failed", error: "boom" }],
    ["cancelled", { aborted: true, abortReason: cancel }, { status: "cancelled", reason: "cancelled by alice" }],
    [
      "threw, then cancelled",
      { aborted: true, abortReason: cancel, failure: "boom" },
      { status: "cancelled", reason: "cancelled by alice", error: "boom" },
    ],
    [
      "a failure text is cut at 1024 chars",
      { aborted: false, failure: "x".repeat(2000) },
      { status: "failed", error: "x".repeat(1024) },
    ],
  ])("%s", (_name, ran, expected) => {
    expect(endOfTurn(ran)).toEqual(expected);
  });
});
