import { ThreadlineError } from "@threadline/protocol";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { can, createAuthenticator, principalFromClaims } from "./auth.ts";

const secret = "unit-test-secret-unit-test-secret-0123";
const sign = (claims: Record<string, unknown>, exp = Math.floor(Date.now() / 1000) + 60, key = secret) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(new TextEncoder().encode(key));

describe("auth", () => {
  const auth = createAuthenticator({ secret, clockToleranceSec: 0 });

  it("verifies a token into a principal", async () => {
    const p = await auth.verify(
      await sign({ sub: "alice", role: "operator", grants: [{ session: "s-*", can: ["read"] }] }),
    );
    expect(p).toMatchObject({ user: "alice", role: "operator", kind: "operator" });
    expect(p.expiresAt).toBeGreaterThan(Date.now());
  });

  it.each([
    ["bad signature", () => sign({ sub: "a" }, undefined, "another-secret-another-secret-0123"), "AUTH_FAILED"],
    ["expired", () => sign({ sub: "a" }, Math.floor(Date.now() / 1000) - 10), "TOKEN_EXPIRED"],
    ["garbage", async () => "x.y.z", "AUTH_FAILED"],
    ["sub with a dot", () => sign({ sub: "a.b" }), "AUTH_FAILED"],
    ["unknown role", () => sign({ sub: "a", role: "root" }), "AUTH_FAILED"],
    ["wildcard in the middle", () => sign({ sub: "a", grants: [{ session: "a*b", can: ["read"] }] }), "AUTH_FAILED"],
    ["unknown capability", () => sign({ sub: "a", grants: [{ session: "*", can: ["delete"] }] }), "AUTH_FAILED"],
  ])("rejects %s", async (_name, token, code) => {
    const error = await auth.verify(await token()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThreadlineError);
    expect((error as ThreadlineError).code).toBe(code);
  });

  it("matches grants exactly, by prefix or wildcard; observers only read", () => {
    const p = principalFromClaims({
      sub: "u",
      grants: [
        { session: "exact", can: ["read", "write"] },
        { session: "team-*", can: ["read", "control"] },
      ],
    });
    expect(can(p, "exact", "write")).toBe(true);
    expect(can(p, "exactly", "read")).toBe(false);
    expect(can(p, "team-42", "control")).toBe(true);
    expect(can(p, "team-42", "write")).toBe(false);
    expect(can(p, "other", "read")).toBe(false);
    const all = principalFromClaims({ sub: "u", grants: [{ session: "*", can: ["read", "write", "control"] }] });
    expect(can(all, "anything", "control")).toBe(true);
    const observer = principalFromClaims({
      sub: "o",
      role: "observer",
      grants: [{ session: "*", can: ["read", "write", "control"] }],
    });
    expect(can(observer, "s", "read")).toBe(true);
    expect(can(observer, "s", "write")).toBe(false);
    expect(can(observer, "s", "control")).toBe(false);
  });
});
