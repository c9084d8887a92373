import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ControlState, type TurnRecord } from "@threadline/store";
import { type NatsServer, startNatsServer, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TurnLease } from "./turn-lease.ts";

let nats: NatsServer;
let nc: NatsConnection;
let control: ControlState;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  control = new ControlState(await new Kvm(nc).create("lease-test", { history: 1 }));
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

describe("TurnLease", () => {
  it("renews leaseUntil with a CAS while held; held tracks the revision it wrote", async () => {
    const entry: TurnRecord = { status: "running", worker: "w1", updatedAt: Date.now(), leaseUntil: Date.now() + 900 };
    const revision = (await control.createTurn("s1", "t1", entry))!;
    const lost: unknown[] = [];
    const lease = new TurnLease(control, "s1", "t1", { revision, entry }, { leaseMs: 300, orphanAfterMs: 900 }, (r) =>
      lost.push(r),
    );
    lease.start();
    await waitFor(() => lease.held.revision > revision);
    const stored = await control.getTurn("s1", "t1");
    expect(stored?.revision).toBe(lease.held.revision);
    expect(stored?.value.leaseUntil).toBeGreaterThan(entry.leaseUntil!);
    expect(stored?.value).toMatchObject({ status: "running", worker: "w1" });
    await lease.end();
    expect(lost).toEqual([]);
  });

  it("a write by anyone else (takeover, orphan sweep) loses the lease at the next check, once", async () => {
    const entry: TurnRecord = { status: "running", worker: "w1", updatedAt: Date.now(), leaseUntil: Date.now() + 900 };
    const revision = (await control.createTurn("s1", "t2", entry))!;
    const lost: unknown[] = [];
    const lease = new TurnLease(control, "s1", "t2", { revision, entry }, { leaseMs: 300, orphanAfterMs: 900 }, (r) =>
      lost.push(r),
    );
    lease.start();
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
