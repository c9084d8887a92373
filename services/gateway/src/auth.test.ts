import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ThreadlineError } from "@threadline/protocol";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from "jose";
import { describe, expect, it, onTestFinished } from "vitest";
import { can, canWriteState, createAuthenticator, principalFromClaims, requiresOperator } from "./auth.ts";

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
    // Validly signed, but larger than MAX_TOKEN_BYTES (16 KiB).
    ["an oversized token", () => sign({ sub: "a", pad: "x".repeat(20_000) }), "AUTH_FAILED"],
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

  it("narrows the state objects a grant writes to its `state` patterns; without one, every object", () => {
    const p = principalFromClaims({
      sub: "u",
      grants: [
        { session: "shop-*", can: ["read", "write"], state: ["cart", "page-*"] },
        { session: "notes", can: ["write"] },
        { session: "ro", can: ["read"], state: ["cart"] },
      ],
    });
    expect(canWriteState(p, "shop-1", "cart")).toBe(true);
    expect(canWriteState(p, "shop-1", "page-home")).toBe(true);
    expect(canWriteState(p, "shop-1", "carts")).toBe(false);
    expect(canWriteState(p, "shop-1", "checklist")).toBe(false);
    expect(canWriteState(p, "notes", "anything")).toBe(true);
    expect(canWriteState(p, "ro", "cart")).toBe(false);
    const observer = principalFromClaims({ sub: "o", role: "observer", grants: [{ session: "*", can: ["write"] }] });
    expect(canWriteState(observer, "s", "cart")).toBe(false);
    for (const state of ["cart", ["a.b"], ["*x"], [""], Array(65).fill("a")]) {
      expect(() => principalFromClaims({ sub: "u", grants: [{ session: "*", can: ["write"], state }] })).toThrow(
        /grants\[0\]\.state/,
      );
    }
  });
});

describe("auth: claims and asymmetric keys", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const codeOf = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as ThreadlineError).code;

  it("checks nbf, iss, aud and requires exp, with the configured clock tolerance", async () => {
    const strict = createAuthenticator({ secret, clockToleranceSec: 2, issuer: "https://idp", audience: "threadline" });
    const base = () =>
      new SignJWT({ sub: "a" }).setProtectedHeader({ alg: "HS256" }).setIssuer("https://idp").setAudience("threadline");
    const key = new TextEncoder().encode(secret);
    await expect(
      strict.verify(
        await base()
          .setExpirationTime(now() + 60)
          .sign(key),
      ),
    ).resolves.toMatchObject({
      user: "a",
    });
    // Within the tolerance: 1 s in the future / 1 s in the past are accepted.
    await expect(
      strict.verify(
        await base()
          .setNotBefore(now() + 1)
          .setExpirationTime(now() + 60)
          .sign(key),
      ),
    ).resolves.toBeDefined();
    await expect(
      strict.verify(
        await base()
          .setExpirationTime(now() - 1)
          .sign(key),
      ),
    ).resolves.toBeDefined();
    expect(
      await codeOf(
        strict.verify(
          await base()
            .setNotBefore(now() + 30)
            .setExpirationTime(now() + 60)
            .sign(key),
        ),
      ),
    ).toBe("AUTH_FAILED");
    expect(
      await codeOf(
        strict.verify(
          await base()
            .setExpirationTime(now() - 10)
            .sign(key),
        ),
      ),
    ).toBe("TOKEN_EXPIRED");
    expect(await codeOf(strict.verify(await base().sign(key)))).toBe("AUTH_FAILED"); // no exp
    const wrongIss = new SignJWT({ sub: "a" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("https://other")
      .setAudience("threadline")
      .setExpirationTime(now() + 60);
    expect(await codeOf(strict.verify(await wrongIss.sign(key)))).toBe("AUTH_FAILED");
    const wrongAud = new SignJWT({ sub: "a" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("https://idp")
      .setAudience("another-app")
      .setExpirationTime(now() + 60);
    expect(await codeOf(strict.verify(await wrongAud.sign(key)))).toBe("AUTH_FAILED");
  });

  it.each([
    ["EdDSA", "Ed25519"],
    ["RS256", "RSA"],
    ["ES256", "P-256"],
  ] as const)(
    "verifies %s tokens with a PEM public key (%s) and refuses HS256 when no secret is set",
    async (alg, _keyType) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const pemAuth = createAuthenticator({ publicKeyPem: await exportSPKI(publicKey), clockToleranceSec: 0 });
      const token = await new SignJWT({ sub: "agent-ops", role: "operator" })
        .setProtectedHeader({ alg })
        .setExpirationTime(now() + 60)
        .sign(privateKey);
      await expect(pemAuth.verify(token)).resolves.toMatchObject({ user: "agent-ops", role: "operator" });
      expect(await codeOf(pemAuth.verify(await sign({ sub: "a" })))).toBe("AUTH_FAILED");
      const other = await generateKeyPair(alg);
      const forged = await new SignJWT({ sub: "agent-ops" })
        .setProtectedHeader({ alg })
        .setExpirationTime(now() + 60)
        .sign(other.privateKey);
      expect(await codeOf(pemAuth.verify(forged))).toBe("AUTH_FAILED");
    },
  );

  it("verifies against a JWKS URL, caches it, and picks up a rotated key by kid", async () => {
    const first = await generateKeyPair("EdDSA", { extractable: true });
    const second = await generateKeyPair("ES256", { extractable: true });
    let keys: JWK[] = [{ ...(await exportJWK(first.publicKey)), kid: "k1", alg: "EdDSA" }];
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = server.address() as AddressInfo;
    const jwksAuth = createAuthenticator({
      jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
      jwksCooldownMs: 0,
      clockToleranceSec: 0,
    });
    const signWith = (key: CryptoKey, alg: string, kid: string) =>
      new SignJWT({ sub: "bob" })
        .setProtectedHeader({ alg, kid })
        .setExpirationTime(now() + 60)
        .sign(key);
    const t1 = await signWith(first.privateKey, "EdDSA", "k1");
    await expect(jwksAuth.verify(t1)).resolves.toMatchObject({ user: "bob" });
    await expect(jwksAuth.verify(t1)).resolves.toMatchObject({ user: "bob" });
    expect(fetches).toBe(1); // cached
    // The identity provider rotates: k2 is published, k1 retired.
    keys = [{ ...(await exportJWK(second.publicKey)), kid: "k2", alg: "ES256" }];
    await expect(jwksAuth.verify(await signWith(second.privateKey, "ES256", "k2"))).resolves.toMatchObject({
      user: "bob",
    });
    expect(fetches).toBe(2); // the unknown kid triggered one refetch
    expect(await codeOf(jwksAuth.verify(await signWith(first.privateKey, "EdDSA", "k3")))).toBe("AUTH_FAILED");
  });

  it("reports an unreachable JWKS as UNAVAILABLE (retryable), not as a bad token", async () => {
    const { privateKey } = await generateKeyPair("EdDSA");
    const down = createAuthenticator({ jwksUrl: "http://127.0.0.1:1/jwks.json", clockToleranceSec: 0 });
    const token = await new SignJWT({ sub: "a" })
      .setProtectedHeader({ alg: "EdDSA", kid: "k" })
      .setExpirationTime(now() + 60)
      .sign(privateKey);
    const error = (await down.verify(token).catch((e: unknown) => e)) as ThreadlineError;
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.retryable).toBe(true);
  });
});

describe("operator-only events", () => {
  it("lets anyone request a handoff, only operators accept/assign/release it", () => {
    expect(requiresOperator("handoff", { action: "request" })).toBe(false);
    expect(requiresOperator("handoff", { action: "accept" })).toBe(true);
    expect(requiresOperator("handoff", { action: "assign", to: "op-1" })).toBe(true);
    expect(requiresOperator("handoff", undefined)).toBe(true);
    expect(requiresOperator("input", { action: "accept" })).toBe(false);
    expect(requiresOperator("cancel", undefined)).toBe(false);
  });
});
