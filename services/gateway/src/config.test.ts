import { createECDH, generateKeyPairSync, randomBytes } from "node:crypto";
import { DEFAULT_PUSH_ALLOWED_HOSTS } from "@threadline/store";
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

  it("sizes the recent-events cache (default 64 MiB, 0 = off, never negative)", () => {
    expect(loadConfig(base).recentEventsBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ ...base, THREADLINE_CACHE_BYTES: "0" }).recentEventsBytes).toBe(0);
    expect(loadConfig({ ...base, THREADLINE_CACHE_BYTES: "1048576" }).recentEventsBytes).toBe(1048576);
    expect(() => loadConfig({ ...base, THREADLINE_CACHE_BYTES: "-1" })).toThrow(/THREADLINE_CACHE_BYTES/);
  });

  it("bounds a session's ring for live traffic apart from what catch-ups from the cache may keep in it", () => {
    expect(loadConfig(base)).toMatchObject({
      ringMaxEvents: 1024,
      ringMaxBytes: 1024 * 1024,
      ringCatchUpEvents: 16_384,
      ringCatchUpBytes: 4 * 1024 * 1024,
    });
    expect(loadConfig({ ...base, THREADLINE_RING_CATCHUP_BYTES: "8388608" }).ringCatchUpBytes).toBe(8 * 1024 * 1024);
    expect(() => loadConfig({ ...base, THREADLINE_RING_CATCHUP_EVENTS: "0" })).toThrow(
      /THREADLINE_RING_CATCHUP_EVENTS/,
    );
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

describe("loadConfig: offline delivery (PROTOCOL.md §20)", () => {
  const vapidKey = createECDH("prime256v1").generateKeys().toString("base64url");

  it("defaults: push bucket, no VAPID key (push disabled), the browsers' push services, 30 writes/min burst 10", () => {
    const c = loadConfig(base);
    expect(c.pushBucket).toBe("threadline-push");
    expect(c.vapidPublicKey).toBeUndefined();
    expect(c.pushAllowedHosts).toEqual([...DEFAULT_PUSH_ALLOWED_HOSTS]);
    expect(c.httpWriteLimits).toEqual({ perMinute: 30, burst: 10 });
  });

  it("reads the VAPID public key, the allowed hosts and the write limits", () => {
    const c = loadConfig({
      ...base,
      THREADLINE_VAPID_PUBLIC_KEY: vapidKey,
      THREADLINE_PUSH_ALLOWED_HOSTS: "127.0.0.1, *.push.example.com",
      THREADLINE_PUSH_BUCKET: "push-2",
      THREADLINE_LIMIT_HTTP_WRITES_PER_MINUTE: "6",
      THREADLINE_LIMIT_HTTP_WRITE_BURST: "2",
    });
    expect(c.vapidPublicKey).toBe(vapidKey);
    expect(c.pushAllowedHosts).toEqual(["127.0.0.1", "*.push.example.com"]);
    expect(c.pushBucket).toBe("push-2");
    expect(c.httpWriteLimits).toEqual({ perMinute: 6, burst: 2 });
  });

  it.each([
    ["a VAPID private key (32 bytes)", { THREADLINE_VAPID_PUBLIC_KEY: randomBytes(32).toString("base64url") }, /VAPID/],
    ["a VAPID key in base64 with +/", { THREADLINE_VAPID_PUBLIC_KEY: `${vapidKey.slice(0, -2)}+/` }, /VAPID/],
    ["a bare * host", { THREADLINE_PUSH_ALLOWED_HOSTS: "*" }, /THREADLINE_PUSH_ALLOWED_HOSTS/],
    ["a URL as a host", { THREADLINE_PUSH_ALLOWED_HOSTS: "https://fcm.googleapis.com" }, /ALLOWED_HOSTS/],
    ["a bucket that is not a token", { THREADLINE_PUSH_BUCKET: "push.x" }, /THREADLINE_PUSH_BUCKET/],
    ["no write budget", { THREADLINE_LIMIT_HTTP_WRITE_BURST: "0" }, /THREADLINE_LIMIT_HTTP_WRITE_BURST/],
  ])("refuses %s", (_name, env, expected) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(expected);
  });
});
