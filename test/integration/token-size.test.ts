import { request } from "node:http";
import { CloseCode, type ErrorFrame, MAX_TOKEN_BYTES } from "@threadline/protocol";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { TEST_JWT_SECRET } from "./support/tokens.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

/** A validly signed HS256 token of exactly `bytes` bytes (padded with a header and a claim the gateway ignores). */
async function tokenOfSize(sub: string, bytes: number): Promise<string> {
  const sign = (headerPad: string, pad: string) =>
    new SignJWT({ role: "user", grants: [{ session: "*", can: ["read", "write", "control"] }], pad })
      .setProtectedHeader({ alg: "HS256", pad: headerPad })
      .setSubject(sub)
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  // base64url turns 3 bytes into 4 characters and cannot end in every length: two padded parts reach any size.
  const base = (await sign("", "")).length;
  const approx = Math.floor(((bytes - base) * 3) / 4);
  for (let headerPad = 0; headerPad < 4; headerPad++) {
    for (let pad = Math.max(0, approx - 6); pad <= approx + 3; pad++) {
      const token = await sign("h".repeat(headerPad), "x".repeat(pad));
      if (token.length === bytes) return token;
    }
  }
  throw new Error(`could not build a token of ${bytes} bytes`);
}

function httpGet(path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: stack.gateway.port, path, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

// Regression (issue 13): a validly signed 33 KB token got INVALID_FRAME and left an open, unauthenticated socket.
describe("token size limit (PROTOCOL.md §6.1)", () => {
  it("a validly signed token over the limit in hello → AUTH_FAILED and close 4500", async () => {
    const big = await tokenOfSize("alice", 33 * 1024);
    const s = await RawSocket.open(stack.gateway.url);
    s.send({ op: "hello", token: big });
    expect(await s.closed).toBe(CloseCode.AUTH_FAILED);
    expect(s.frames).toHaveLength(1);
    expect(s.frames[0]).toMatchObject({ op: "error", code: "AUTH_FAILED", retryable: false });
    expect((s.frames[0] as ErrorFrame).message).toContain(`${MAX_TOKEN_BYTES} bytes`);
  });

  it("a token of exactly the limit is accepted; one byte more is refused", async () => {
    const atLimit = await RawSocket.connect(stack.gateway.url, await tokenOfSize("alice", MAX_TOKEN_BYTES));
    expect(atLimit.frames[0]).toMatchObject({ op: "welcome", user: "alice" });
    await atLimit.close();
    const over = await RawSocket.open(stack.gateway.url);
    over.send({ op: "hello", token: await tokenOfSize("alice", MAX_TOKEN_BYTES + 1) });
    expect(await over.closed).toBe(CloseCode.AUTH_FAILED);
  });

  it("a hello frame over maxFrameBytes before authentication → AUTH_FAILED and close 4500, not an open socket", async () => {
    const s = await RawSocket.open(stack.gateway.url);
    // 70 KB: above maxFrameBytes (64 KiB), below maxPayloadBytes, so the gateway sees the frame.
    s.send({ op: "hello", token: "e".repeat(70 * 1024) });
    expect(await s.closed).toBe(CloseCode.AUTH_FAILED);
    expect(s.frames[0]).toMatchObject({ op: "error", code: "AUTH_FAILED" });
    expect((s.frames[0] as ErrorFrame).message).toContain("maxFrameBytes");
  });

  it("an oversized token in the upgrade's Authorization header → AUTH_FAILED and close 4500 at hello", async () => {
    const big = await tokenOfSize("henry", 20 * 1024);
    const s = await RawSocket.open(stack.gateway.url, { headers: { authorization: `Bearer ${big}` } });
    s.send({ op: "hello", device: "cli" });
    expect(await s.closed).toBe(CloseCode.AUTH_FAILED);
    expect(s.frames[0]).toMatchObject({ op: "error", code: "AUTH_FAILED" });
  });

  it("a refresh with an oversized token → AUTH_FAILED; the socket keeps its previous token (§6.3)", async () => {
    const s = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "bob" }));
    const refused = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.send({ op: "hello", token: await tokenOfSize("bob", 33 * 1024) });
    expect(await refused).toMatchObject({ code: "AUTH_FAILED" });
    expect((await s.request({ op: "ping" })).op).toBe("pong");
    expect(s.open).toBe(true);
    await s.close();
  });

  it("the HTTP routes answer an oversized bearer token with 401 AUTH_FAILED", async () => {
    const big = await tokenOfSize("alice", 20 * 1024);
    for (const what of ["presence", "control"]) {
      const reply = await httpGet(`/v1/sessions/s1/${what}`, big);
      expect(reply.status).toBe(401);
      expect(JSON.parse(reply.body)).toMatchObject({ code: "AUTH_FAILED" });
    }
  });
});
