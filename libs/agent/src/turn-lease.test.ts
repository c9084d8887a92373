import { Kvm } from "@nats-io/kv";
import { ControlState, type TurnRecord } from "@threadline/store";
import { waitFor } from "@threadline/test-kit";
import { beforeAll, describe, expect, it } from "vitest";
import { useNats } from "./test-support/nats-fixture.ts";
import { TurnLease } from "./turn-lease.ts";

const fx = useNats();
let control: ControlState;
beforeAll(async () => {
  control = new ControlState(await new Kvm(fx.nc).create("lease-test", { history: 1 }));
});

/** Stores a running turn `turn` of session s1 held by w1 and starts its lease (300 ms renewals); `lost` records its loss. */
async function startLease(turn: string) {
  const entry: TurnRecord = { status: "running", worker: "w1", updatedAt: Date.now(), leaseUntil: Date.now() + 900 };
  const revision = (await control.createTurn("s1", turn, entry))!;
  const lost: unknown[] = [];
  const lease = new TurnLease(control, "s1", turn, { revision, entry }, { leaseMs: 300, orphanAfterMs: 900 }, (r) =>
    lost.push(r),
  );
  lease.start();
  return { entry, revision, lost, lease };
}

describe("TurnLease", () => {
  it("renews leaseUntil with a CAS while held; held tracks the revision it wrote", async () => {
    const { entry, revision, lost, lease } = await startLease("t1");
    await waitFor(() => lease.held.revision > revision);
    const stored = await control.getTurn("s1", "t1");
    expect(stored?.revision).toBe(lease.held.revision);
    expect(stored?.value.leaseUntil).toBeGreaterThan(entry.leaseUntil!);
    expect(stored?.value).toMatchObject({ status: "running", worker: "w1" });
    await lease.end();
    expect(lost).toEqual([]);
  });

  it("a write by anyone else (takeover, orphan sweep) loses the lease at the next check, once", async () => {
    const { entry, revision, lost, lease } = await startLease("t2");
    await control.casTurn("s1", "t2", { ...entry, status: "interrupted", closedBy: "w2" }, revision);
    await waitFor(() => lost.length > 0);
    expect(lease.lost).toBe(true);
    await expect(lease.guard()).rejects.toMatchObject({ code: "TURN_ENDED" });
    await lease.end();
    expect(lost).toHaveLength(1);
    // The lost lease never overwrote the other writer's final entry.
    expect((await control.getTurn("s1", "t2"))?.value).toMatchObject({ status: "interrupted", closedBy: "w2" });
  });
});
