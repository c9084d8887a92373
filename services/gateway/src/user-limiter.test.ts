import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { UserLimiter } from "./user-limiter.ts";

describe("UserLimiter", () => {
  it("caps sockets per user and forgets a user with no sockets", async () => {
    const registry = new Registry();
    const limiter = new UserLimiter({ maxSocketsPerUser: 2, userEventsPerSecond: 1, userEventBurst: 1 }, registry);
    expect(limiter.acquireSocket("a")).toBe(true);
    expect(limiter.acquireSocket("a")).toBe(true);
    expect(limiter.acquireSocket("a")).toBe(false);
    expect(limiter.acquireSocket("b")).toBe(true);
    limiter.releaseSocket("a");
    expect(limiter.acquireSocket("a")).toBe(true);
    limiter.releaseSocket("a");
    limiter.releaseSocket("a");
    expect(limiter.socketsOf("a")).toBe(0);
    const text = await registry.metrics();
    expect(text).toMatch(/threadline_gateway_user_limit_hits_total\{limit="sockets"\} 1/);
    expect(text).toMatch(/threadline_gateway_users 1/);
  });

  it("shares one event bucket between all sockets of a user", () => {
    let t = 0;
    const limiter = new UserLimiter(
      { maxSocketsPerUser: 5, userEventsPerSecond: 10, userEventBurst: 3 },
      new Registry(),
      () => t,
    );
    limiter.acquireSocket("a");
    limiter.acquireSocket("a");
    limiter.acquireSocket("b");
    expect([1, 2, 3, 4].map(() => limiter.takeEvent("a"))).toEqual([true, true, true, false]);
    expect(limiter.takeEvent("b")).toBe(true); // other users unaffected
    t += 100; // one token refills at 10/s
    expect(limiter.takeEvent("a")).toBe(true);
    expect(limiter.takeEvent("a")).toBe(false);
  });
});
