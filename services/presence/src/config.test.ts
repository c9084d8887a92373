import { describe, expect, test } from "vitest";
import { ConfigError, loadPresenceConfig } from "./config.ts";

describe("loadPresenceConfig", () => {
  test("defaults: no system account, 250 ms sweep, reconcile window below the 2 min duplicate window", () => {
    const config = loadPresenceConfig({});
    expect(config.sysNats).toBeUndefined();
    expect(config.presenceBucket).toBe("threadline-presence");
    expect(config.sweepMs).toBe(250);
    expect(config.reconcileWindowMs).toBeLessThan(120_000);
    expect(config.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
  });

  test("system-account credentials enable advisories, on NATS_URL unless NATS_SYS_URL is set", () => {
    const config = loadPresenceConfig({ NATS_URL: "nats://a:1,nats://b:2", NATS_SYS_USER: "sys", NATS_SYS_PASS: "pw" });
    expect(config.sysNats).toEqual({
      servers: ["nats://a:1", "nats://b:2"],
      user: "sys",
      pass: "pw",
      token: undefined,
    });
  });

  test("lists every problem at once", () => {
    try {
      loadPresenceConfig({
        THREADLINE_PRESENCE_SWEEP_MS: "0",
        THREADLINE_PRESENCE_BUCKET: "a.b",
        THREADLINE_PROVISION: "x",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toHaveLength(3);
    }
  });
});
