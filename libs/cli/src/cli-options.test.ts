import { describe, expect, it } from "vitest";
import { connectionSettings, durationFlag, integerFlag, parseCommandLine, UsageError } from "./cli-options.ts";

describe("connectionSettings", () => {
  it("flags override the environment; defaults otherwise", () => {
    const env = {
      NATS_URL: "nats://a:4222, nats://b:4222",
      NATS_USER: "u",
      NATS_PASSWORD: "p",
      THREADLINE_STREAM: "S2",
    };
    expect(connectionSettings({}, env)).toMatchObject({
      servers: ["nats://a:4222", "nats://b:4222"],
      user: "u",
      pass: "p",
      stream: "S2",
      prefix: "tl",
      presenceBucket: "threadline-presence",
      cursorBucket: "threadline-cursors",
      controlBucket: "threadline-control",
    });
    expect(connectionSettings({ server: "nats://c:1", user: "v" }, env)).toMatchObject({
      servers: ["nats://c:1"],
      user: "v",
    });
    expect(connectionSettings({}, {}).servers).toEqual(["nats://127.0.0.1:4222"]);
  });

  it("refuses contradictory credentials", () => {
    expect(() => connectionSettings({ password: "p" }, {})).toThrow(UsageError);
    expect(() => connectionSettings({ creds: "/x.creds", token: "t" }, {})).toThrow(/--creds cannot be combined/);
  });
});

describe("flags", () => {
  it("parses durations and integers, refusing junk", () => {
    expect(durationFlag({ since: "90s" }, "since", 1)).toBe(90_000);
    expect(durationFlag({ since: "15m" }, "since", 1)).toBe(900_000);
    expect(durationFlag({ since: "250ms" }, "since", 1)).toBe(250);
    expect(durationFlag({ since: "3" }, "since", 1)).toBe(3000);
    expect(durationFlag({}, "since", 7)).toBe(7);
    expect(() => durationFlag({ since: "soon" }, "since", 1)).toThrow(UsageError);
    expect(integerFlag({ n: "12" }, "n", 0)).toBe(12);
    expect(() => integerFlag({ n: "-1" }, "n", 0)).toThrow(UsageError);
  });

  it("turns parse errors into UsageError", () => {
    expect(() => parseCommandLine(["--nope"], {})).toThrow(UsageError);
    expect(parseCommandLine(["s1", "--json"], {})).toEqual({ values: { json: true }, positionals: ["s1"] });
  });
});
