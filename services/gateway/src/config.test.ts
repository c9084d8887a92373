import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

const base = { THREADLINE_JWT_SECRET: "s".repeat(32) };

describe("loadConfig", () => {
  it("applies defaults", () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      port: 8080,
      stream: "THREADLINE",
      subjectPrefix: "tl",
      livePrefix: "live",
      provision: true,
    });
    expect(c.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(c.limits.maxFrameBytes).toBe(65536);
  });

  it("reads overrides, including limits", () => {
    const c = loadConfig({
      ...base,
      NATS_URL: "nats://a:1, nats://b:2",
      THREADLINE_LIMIT_MAX_FRAME_BYTES: "4096",
      THREADLINE_LIMIT_MAX_EVENT_BYTES: "1024",
    });
    expect(c.nats.servers).toEqual(["nats://a:1", "nats://b:2"]);
    expect(c.limits.maxFrameBytes).toBe(4096);
  });

  it("lists every problem at once", () => {
    const error = (() => {
      try {
        loadConfig({
          THREADLINE_GATEWAY_PORT: "http",
          THREADLINE_STREAM: "bad name",
          THREADLINE_LIMIT_MAX_EVENT_BYTES: "999999",
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(/THREADLINE_JWT_SECRET/);
    expect(problems).toMatch(/THREADLINE_GATEWAY_PORT/);
    expect(problems).toMatch(/THREADLINE_STREAM/);
    expect(problems).toMatch(/MAX_EVENT_BYTES/);
  });
});
