import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ClaimDecision,
  type ClaimEntry,
  claimDecision,
  DEFAULT_CLAIM_POLICY,
  NotificationClaims,
} from "./notification-claims.ts";
import { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";
import { provisionThreadline } from "./stream-provisioner.ts";

describe("claimDecision (pure)", () => {
  const policy = { leaseMs: 30_000, maxAttempts: 3 };
  const claimed = (at: number, attempts = 1): ClaimEntry => ({ status: "claimed", owner: "n1", at, attempts });
  it.each<[string, ClaimEntry | undefined, number, ClaimDecision]>([
    ["no entry", undefined, 0, { action: "create" }],
    ["claimed, lease running", claimed(1000), 30_999, { action: "held", owner: "n1", expiresAt: 31_000 }],
    ["claimed, lease just over", claimed(1000), 31_000, { action: "takeover", attempts: 2 }],
    ["claimed twice, lease over", claimed(1000, 2), 90_000, { action: "takeover", attempts: 3 }],
    ["claimed maxAttempts times, lease over", claimed(1000, 3), 90_000, { action: "exhausted", attempts: 3 }],
    [
      "claimed maxAttempts times, lease running",
      claimed(1000, 3),
      2000,
      { action: "held", owner: "n1", expiresAt: 31_000 },
    ],
    ["sent", { ...claimed(1000), status: "sent" }, 1e12, { action: "done", status: "sent" }],
    ["failed", { ...claimed(1000), status: "failed" }, 1e12, { action: "done", status: "failed" }],
    ["dead", { ...claimed(1000), status: "dead" }, 1e12, { action: "done", status: "dead" }],
    // a writer clock ahead of ours: held until our clock passes its lease
    ["claimed in our future", claimed(50_000), 10_000, { action: "held", owner: "n1", expiresAt: 80_000 }],
  ])("%s", (_name, entry, now, expected) => {
    expect(claimDecision(entry, now, policy)).toEqual(expected);
  });
});

describe("NotificationClaims on nats-server", () => {
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const kvs: KV[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
    // two connections: two notifier processes
    for (let i = 0; i < 2; i++) {
      const nc = await connect({ servers: nats.url });
      conns.push(nc);
      if (i === 0) await provisionThreadline(nc);
      kvs.push(await new Kvm(nc).open("threadline-notify"));
    }
  });
  afterAll(async () => {
    for (const nc of conns) await nc.close();
    await nats?.stop();
  });

  const clock = (start: number) => {
    const c = { t: start, now: () => c.t };
    return c;
  };

  it("concurrent claims of one trigger from two processes: exactly one wins", async () => {
    const [a, b] = [new NotificationClaims(kvs[0] as KV), new NotificationClaims(kvs[1] as KV)];
    for (let i = 0; i < 20; i++) {
      const key = `race.e${i}`;
      const results = await Promise.all([
        a.claim(key, "na"),
        b.claim(key, "nb"),
        a.claim(key, "na2"),
        b.claim(key, "nb2"),
      ]);
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toMatchObject({ triggerKey: key, attempts: 1, takeover: false });
      expect(await a.get(key)).toMatchObject({ status: "claimed", owner: winners[0]?.owner, attempts: 1 });
    }
  });

  it("a claim held within its lease is not taken; after the lease it is taken over and the late owner cannot complete", async () => {
    const c = clock(1_000_000);
    const a = new NotificationClaims(kvs[0] as KV, { now: c.now });
    const b = new NotificationClaims(kvs[1] as KV, { now: c.now });
    const first = await a.claim("lease.e1", "na");
    expect(first).toBeDefined();
    c.t += DEFAULT_CLAIM_POLICY.leaseMs - 1;
    expect(await b.claim("lease.e1", "nb")).toBeUndefined();
    c.t += 1;
    const second = await b.claim("lease.e1", "nb");
    expect(second).toMatchObject({ owner: "nb", attempts: 2, takeover: true });
    // the first owner was only slow: its renewal and completion lose against the takeover
    expect(await a.renew(first as NonNullable<typeof first>)).toBeUndefined();
    expect(await a.complete(first as NonNullable<typeof first>, "sent")).toBe(false);
    expect(await b.complete(second as NonNullable<typeof second>, "sent", "push 201")).toBe(true);
    expect(await a.get("lease.e1")).toEqual({ status: "sent", owner: "nb", at: c.t, attempts: 2, detail: "push 201" });
  });

  it("a completed trigger is never claimed again, whatever the time", async () => {
    const c = clock(2_000_000);
    const a = new NotificationClaims(kvs[0] as KV, { now: c.now });
    for (const outcome of ["sent", "failed", "dead"] as const) {
      const key = `done.${outcome}`;
      const ticket = await a.claim(key, "na");
      expect(await a.complete(ticket as NonNullable<typeof ticket>, outcome)).toBe(true);
      // completing twice: the ticket's revision is gone
      expect(await a.complete(ticket as NonNullable<typeof ticket>, outcome)).toBe(false);
      c.t += 10 * DEFAULT_CLAIM_POLICY.leaseMs;
      expect(await new NotificationClaims(kvs[1] as KV, { now: c.now }).claim(key, "nb")).toBeUndefined();
      expect((await a.get(key))?.status).toBe(outcome);
    }
  });

  it("renewing keeps the lease; a trigger abandoned maxAttempts times is marked dead", async () => {
    const c = clock(3_000_000);
    const a = new NotificationClaims(kvs[0] as KV, { now: c.now, leaseMs: 1000, maxAttempts: 2 });
    const b = new NotificationClaims(kvs[1] as KV, { now: c.now, leaseMs: 1000, maxAttempts: 2 });
    let ticket = await a.claim("poison.e1", "na");
    c.t += 900;
    ticket = await a.renew(ticket as NonNullable<typeof ticket>);
    expect(ticket).toBeDefined();
    c.t += 900; // 1800 ms after the claim, 900 after the renewal
    expect(await b.claim("poison.e1", "nb")).toBeUndefined();
    c.t += 100;
    expect(await b.claim("poison.e1", "nb")).toMatchObject({ attempts: 2, takeover: true });
    c.t += 1000; // the second owner died too
    expect(await a.claim("poison.e1", "na")).toBeUndefined();
    expect(await a.get("poison.e1")).toMatchObject({ status: "dead", attempts: 2, detail: "abandoned by 2 owners" });
  });

  it("a value that does not validate is replaced by a claim; invalid keys are a typed error", async () => {
    const a = new NotificationClaims(kvs[0] as KV);
    await (kvs[0] as KV).put("foreign.e1", JSON.stringify({ status: "whatever" }));
    expect(await a.get("foreign.e1")).toBeUndefined();
    expect(await a.claim("foreign.e1", "na")).toMatchObject({ attempts: 1, takeover: false });
    for (const key of ["", "a..b", ".a", "a b", "a*", "x".repeat(257)]) {
      const error = await a.claim(key, "na").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PushStoreError);
      expect(error).toMatchObject({ code: PushStoreErrorCode.INVALID_TRIGGER_KEY });
    }
  });
});
