import { generateKeyPairSync } from "node:crypto";
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

  it("names the control bucket (default threadline-control, a KV token)", () => {
    expect(loadConfig(base).controlBucket).toBe("threadline-control");
    expect(loadConfig({ ...base, THREADLINE_CONTROL_BUCKET: "ctl-2" }).controlBucket).toBe("ctl-2");
    expect(() => loadConfig({ ...base, THREADLINE_CONTROL_BUCKET: "bad.name" })).toThrow(/THREADLINE_CONTROL_BUCKET/);
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

  it("accepts a PEM public key or a JWKS URL instead of a secret, and checks them", async () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    // PEM in one env line with literal \n, as container env files need.
    const c = loadConfig({ THREADLINE_JWT_PUBLIC_KEY: pem.replace(/\n/g, "\\n") });
    expect(c.jwt.publicKeyPem).toBe(pem);
    expect(c.jwt.secret).toBeUndefined();
    expect(loadConfig({ THREADLINE_JWT_JWKS_URL: "https://idp.example/jwks.json" }).jwt.jwksUrl).toBe(
      "https://idp.example/jwks.json",
    );
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return "";
      } catch (e) {
        return (e as ConfigError).problems.join("\n");
      }
    };
    expect(problems({})).toMatch(/token key is required/);
    expect(problems({ THREADLINE_JWT_SECRET: "short" })).toMatch(/at least 32/);
    expect(problems({ THREADLINE_JWT_PUBLIC_KEY: "not a pem" })).toMatch(/THREADLINE_JWT_PUBLIC_KEY/);
    expect(problems({ THREADLINE_JWT_JWKS_URL: "ftp://x" })).toMatch(/JWKS_URL/);
  });

  it("reads the origin allow-list and the query-token switch (off by default)", () => {
    expect(loadConfig(base)).toMatchObject({ allowedOrigins: undefined, allowQueryToken: false });
    const c = loadConfig({
      ...base,
      THREADLINE_ALLOWED_ORIGINS: "https://app.example.com/, http://localhost:5173",
      THREADLINE_ALLOW_QUERY_TOKEN: "true",
    });
    expect(c.allowedOrigins).toEqual(["https://app.example.com", "http://localhost:5173"]);
    expect(c.allowQueryToken).toBe(true);
    expect(() => loadConfig({ ...base, THREADLINE_ALLOWED_ORIGINS: "app.example.com" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, THREADLINE_ALLOW_QUERY_TOKEN: "yes" })).toThrow(ConfigError);
  });

  it("requires TLS cert and key together, as existing files", () => {
    expect(loadConfig(base).tls).toBeUndefined();
    expect(() => loadConfig({ ...base, THREADLINE_TLS_CERT: "/etc/hostname" })).toThrow(/set together/);
    expect(() =>
      loadConfig({ ...base, THREADLINE_TLS_CERT: "/nonexistent/cert.pem", THREADLINE_TLS_KEY: "/nonexistent/key.pem" }),
    ).toThrow(/no such file/);
  });
});
