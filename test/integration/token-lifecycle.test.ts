import { CloseCode, type ErrorFrame } from "@threadline/protocol";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

const APP_ORIGIN = "https://app.example.com";
let stack: Stack;
let queryStack: Stack;
let jwksDownStack: Stack;
let edKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair("EdDSA");
  edKey = pair.privateKey;
  stack = await startStack({
    gatewayEnv: {
      THREADLINE_ALLOWED_ORIGINS: `${APP_ORIGIN},http://localhost:5173`,
      // Both an HS256 secret (from the stack) and an Ed25519 public key are accepted.
      THREADLINE_JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey),
    },
  });
  queryStack = await startStack({ nats: stack.nats, gatewayEnv: { THREADLINE_ALLOW_QUERY_TOKEN: "true" } });
  // A JWKS URL nobody listens on: the identity provider is down.
  jwksDownStack = await startStack({
    nats: stack.nats,
    gatewayEnv: { THREADLINE_JWT_JWKS_URL: "http://127.0.0.1:1/.well-known/jwks.json" },
  });
});
afterAll(async () => {
  await jwksDownStack?.[Symbol.asyncDispose]();
  await queryStack?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
});

describe("token lifecycle over a real socket", () => {
  it("a refresh before expiry keeps the socket; the same token without refresh closes with 4501", async () => {
    const shortLived = await mintToken({ sub: "alice", expiresIn: 2 });
    const [refreshed, expiring] = await Promise.all([
      RawSocket.connect(stack.gateway.url, shortLived),
      RawSocket.connect(stack.gateway.url, shortLived),
    ]);
    expect(await refreshed.request({ op: "attach", session: "refresh-1", from: "start" })).toMatchObject({
      op: "attached",
    });
    const welcome = refreshed.waitNew((f) => f.op === "welcome");
    refreshed.send({ op: "hello", token: await mintToken({ sub: "alice", expiresIn: 3600 }) });
    expect(await welcome).toMatchObject({ user: "alice" });

    // The unrefreshed socket is told why, then closed with the terminal code at exp.
    expect(await expiring.closed).toBe(CloseCode.TOKEN_EXPIRED);
    expect(expiring.frames.at(-1)).toMatchObject({ op: "error", code: "TOKEN_EXPIRED" });
    // Both sockets had the same exp: the refreshed one passed it and still works, attachment included.
    expect((await refreshed.request({ op: "ping" })).op).toBe("pong");
    const ack = await stack.agent.publish("refresh-1", { type: "note", data: {} });
    await refreshed.next((f) => f.op === "event" && f.seq === ack.seq);
    expect(refreshed.open).toBe(true);
    await refreshed.close();
  });

  it("a refresh applies the new grants; a refresh naming another user or failing keeps the old token", async () => {
    const s = await RawSocket.connect(stack.gateway.url, await mintToken({ sub: "bob" }));
    const other = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.send({ op: "hello", token: await mintToken({ sub: "mallory" }) });
    expect(await other).toMatchObject({ code: "AUTH_FAILED" });
    const forged = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.send({ op: "hello", token: await mintToken({ sub: "bob", secret: "x".repeat(40) }) });
    expect(await forged).toMatchObject({ code: "AUTH_FAILED" });
    // Still the original (all-sessions) token:
    expect(await s.request({ op: "publish", session: "grants-1", event: { type: "input", data: {} } })).toMatchObject({
      op: "published",
    });
    const welcome = s.waitNew((f) => f.op === "welcome");
    s.send({ op: "hello", token: await mintToken({ sub: "bob", grants: [{ session: "grants-1", can: ["read"] }] }) });
    await welcome;
    expect(await s.request({ op: "publish", session: "grants-1", event: { type: "input", data: {} } })).toMatchObject({
      code: "FORBIDDEN",
    });
    expect(s.open).toBe(true);
    await s.close();
  });

  it("a not-yet-valid (nbf) token closes with 4500", async () => {
    const now = Math.floor(Date.now() / 1000);
    const future = await new SignJWT({ sub: "a" })
      .setProtectedHeader({ alg: "EdDSA" })
      .setNotBefore(now + 600)
      .setExpirationTime(now + 3600)
      .sign(edKey);
    const s = await RawSocket.open(stack.gateway.url);
    s.send({ op: "hello", token: future });
    expect(await s.closed).toBe(CloseCode.AUTH_FAILED);
    expect(s.frames[0]).toMatchObject({ code: "AUTH_FAILED" });
  });

  it("accepts an EdDSA token verified with the configured PEM public key", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: "olivia", role: "operator", grants: [{ session: "*", can: ["read"] }] })
      .setProtectedHeader({ alg: "EdDSA" })
      .setExpirationTime(now + 60)
      .sign(edKey);
    const s = await RawSocket.connect(stack.gateway.url, token);
    expect(s.frames[0]).toMatchObject({ op: "welcome", user: "olivia", kind: "operator" });
    await s.close();
  });
});

describe("key source unavailable", () => {
  it("an unreachable JWKS answers UNAVAILABLE and closes with the retryable 4002, not 4500", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "EdDSA", kid: "k1" })
      .setExpirationTime(now + 60)
      .sign(edKey);
    const s = await RawSocket.open(jwksDownStack.gateway.url);
    s.send({ op: "hello", token });
    expect(await s.closed).toBe(CloseCode.UNAVAILABLE);
    expect(s.frames[0]).toMatchObject({ op: "error", code: "UNAVAILABLE", retryable: true });
  });
});

describe("upgrade admission", () => {
  it("refuses a browser origin outside the allow-list with 4504; allowed and absent origins pass", async () => {
    const evil = await RawSocket.open(stack.gateway.url, { headers: { origin: "https://evil.example" } });
    expect(await evil.closed).toBe(CloseCode.FORBIDDEN_ORIGIN);
    expect(evil.frames).toHaveLength(0);
    const token = await mintToken({ sub: "alice" });
    const app = await RawSocket.open(stack.gateway.url, { headers: { origin: APP_ORIGIN } });
    app.send({ op: "hello", token });
    expect(await app.next((f) => f.op === "welcome" || f.op === "error")).toMatchObject({ op: "welcome" });
    const cli = await RawSocket.connect(stack.gateway.url, token);
    expect(cli.frames[0]).toMatchObject({ op: "welcome" });
    await Promise.all([app.close(), cli.close()]);
  });

  it("refuses a token in the query string by default (4500), accepts it only when enabled", async () => {
    const token = await mintToken({ sub: "alice" });
    const refused = await RawSocket.open(`${stack.gateway.url}?access_token=${token}`);
    expect(await refused.closed).toBe(CloseCode.AUTH_FAILED);
    expect(refused.closeReason).toMatch(/URL/);

    const accepted = await RawSocket.open(`${queryStack.gateway.url}?access_token=${token}`);
    accepted.send({ op: "hello" });
    expect(await accepted.next((f) => f.op === "welcome" || f.op === "error")).toMatchObject({
      op: "welcome",
      user: "alice",
    });
    await accepted.close();
  });
});
