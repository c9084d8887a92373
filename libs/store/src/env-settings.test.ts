import { describe, expect, it } from "vitest";
import { ConfigError, EnvReader } from "./env-settings.ts";

describe("EnvReader", () => {
  it("reads typed values with their defaults", () => {
    const env = new EnvReader({ N: "42", T: "tl-1", B: "FALSE", L: " a, ,b ", NATS_URL: "nats://x:1,nats://y:2" });
    expect(env.int("N", 1, 0, 100)).toBe(42);
    expect(env.int("MISSING", 7, 0)).toBe(7);
    expect(env.token("T", "x")).toBe("tl-1");
    expect(env.bool("B", true)).toBe(false);
    expect(env.bool("MISSING", true)).toBe(true);
    expect(env.list("L", "")).toEqual(["a", "b"]);
    expect(env.nats()).toEqual({
      servers: ["nats://x:1", "nats://y:2"],
      user: undefined,
      pass: undefined,
      token: undefined,
    });
    expect(() => env.check("test")).not.toThrow();
  });

  it("collects every problem and reports them all at once", () => {
    const env = new EnvReader({ N: "1.5", T: "a.b", B: "yes" });
    env.int("N", 1, 0);
    env.token("T", "x");
    env.bool("B", false);
    let error: unknown;
    try {
      env.check("test");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'N must be an integer in [0, 9007199254740991] (got "1.5")',
      'T must match [A-Za-z0-9_-]+ (got "a.b")',
      'B must be true or false (got "yes")',
    ]);
    expect((error as ConfigError).message).toMatch(/^invalid test configuration:/);
  });
});
