import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { NotificationRate } from "./notification-rate.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

describe("NotificationRate on nats-server", () => {
  const nats = useProvisionedNats();

  it("allows `limit` per window, then says when the next window starts", async () => {
    const clock = { t: 60_000 * 1000 + 5 };
    const rate = new NotificationRate(await new Kvm(nats.nc).open("threadline-notify"), { now: () => clock.t });
    const window = { limit: 2, windowMs: 60_000 };
    expect(await rate.take("ann", window)).toEqual({ allowed: true, count: 1 });
    expect(await rate.take("ann", window)).toEqual({ allowed: true, count: 2 });
    expect(await rate.take("ann", window)).toEqual({ allowed: false, retryAt: 60_000 * 1001 });
    expect(await rate.take("bob", window)).toEqual({ allowed: true, count: 1 }); // per user
    clock.t = 60_000 * 1001;
    expect(await rate.take("ann", window)).toEqual({ allowed: true, count: 1 });
  });

  it("concurrent takes from two connections (two replicas) never exceed the limit", async () => {
    const other = await connect({ servers: nats.nats.url });
    onTestFinished(() => other.close());
    const now = () => 7 * 3_600_000; // one window for the whole test
    const a = new NotificationRate(await new Kvm(nats.nc).open("threadline-notify"), { now });
    const b = new NotificationRate(await new Kvm(other).open("threadline-notify"), { now });
    const window = { limit: 5, windowMs: 3_600_000 };
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).take("cat", window)));
    expect(results.filter((r) => r.allowed)).toHaveLength(5);
    expect(
      results
        .filter((r) => r.allowed)
        .map((r) => (r as { count: number }).count)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5]);
  });
});
