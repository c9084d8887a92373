import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CloseCode, type ErrorFrame, encodeMsgpack } from "@threadline/protocol";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

/**
 * The frame rules PROTOCOL.md §5.2, §5.3 and §7.1 spell out for cases a client
 * gets wrong: msgpack extension types, invalid UTF-8 text, the `rid` of `ack`
 * errors, and frames beyond the 64 queued while `hello` is being verified.
 */
let stack: Stack;
let slowKeys: Stack;
let jwks: { url: string; hold(): void; release(): void; close(): Promise<void> };
let signKey: CryptoKey;

/** A JWKS endpoint whose answers can be held back, so a `hello` stays "being verified" as long as a test needs. */
async function startJwksServer(publicJwk: object) {
  let held: ServerResponse[] | undefined;
  const body = JSON.stringify({ keys: [publicJwk] });
  const answer = (res: ServerResponse) => res.writeHead(200, { "content-type": "application/json" }).end(body);
  const server = createServer((_req, res) => {
    if (held) held.push(res);
    else answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    hold: () => {
      held = [];
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const res of waiting) answer(res);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  stack = await startStack();
  const pair = await generateKeyPair("EdDSA", { extractable: true });
  signKey = pair.privateKey;
  jwks = await startJwksServer({ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "EdDSA", use: "sig" });
  slowKeys = await startStack({ nats: stack.nats, gatewayEnv: { THREADLINE_JWT_JWKS_URL: jwks.url } });
});
afterAll(async () => {
  await slowKeys?.[Symbol.asyncDispose]();
  await jwks?.close();
  await stack?.[Symbol.asyncDispose]();
});

describe("frame rules", () => {
  it("a msgpack extension type → BAD_FRAME (with the rid when decodable), nothing stored, socket usable", async () => {
    const s = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "mallory" }));
    // A publish whose data holds a msgpack timestamp (ext −1): {op, rid: 41, session, event: {type, data: {at: ts}}}.
    const frame = encodeMsgpack({
      op: "publish",
      rid: 41,
      session: "ext-1",
      event: { type: "input", data: { at: 0 } },
    });
    const withTimestamp = Uint8Array.from([...frame.subarray(0, frame.length - 1), 0xd6, 0xff, 0, 0, 0, 1]);
    const timestamp = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.sendRaw(withTimestamp, true);
    expect(await timestamp).toMatchObject({ code: "BAD_FRAME", rid: 41, retryable: false });
    expect((await timestamp).message).toContain("extension type -1");
    // An extension type no decoder knows: the frame is unreadable, so there is no rid to echo.
    const unknown = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.sendRaw(Uint8Array.of(0x82, 0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa1, 0x78, 0xd4, 0x05, 0x01), true);
    expect(await unknown).toMatchObject({ code: "BAD_FRAME" });
    expect("rid" in (await unknown)).toBe(false);
    const stored = [];
    for await (const r of stack.agent.history("ext-1")) stored.push(r);
    expect(stored).toHaveLength(0);
    expect((await s.request({ op: "ping" })).op).toBe("pong");
    await s.close();
  });

  it("a text message with invalid UTF-8 drops the connection at the WebSocket layer (1006); others are unaffected", async () => {
    const bystander = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "carol" }), {
      encoding: "json",
    });
    const s = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "mallory" }), { encoding: "json" });
    s.sendRaw(Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d), false);
    expect(await s.closed).toBe(CloseCode.ABNORMAL);
    expect(s.frames.filter((f) => f.op === "error")).toHaveLength(0);
    expect((await bystander.request({ op: "ping" })).op).toBe("pong");
    await bystander.close();
  });

  it("ack errors carry session, and the ack's rid only when it had one", async () => {
    const s = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }));
    const withRid = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.send({ op: "ack", rid: 7, session: "never-attached", seq: 1 });
    expect(await withRid).toMatchObject({ code: "NOT_ATTACHED", session: "never-attached", rid: 7 });
    const withoutRid = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.send({ op: "ack", session: "never-attached", seq: 1 });
    expect(await withoutRid).toMatchObject({ code: "NOT_ATTACHED", session: "never-attached" });
    expect("rid" in (await withoutRid)).toBe(false);
    await s.request({ op: "attach", session: "ack-rid", from: "start" });
    const beyond = s.waitNew<ErrorFrame>((f) => f.op === "error");
    s.send({ op: "ack", rid: 8, session: "ack-rid", seq: 99 });
    expect(await beyond).toMatchObject({ code: "INVALID_POSITION", session: "ack-rid", rid: 8 });
    await s.close();
  });

  it("frames beyond the 64 queued during hello get RATE_LIMITED with their rid; the 64 are handled after welcome", async () => {
    const token = await new SignJWT({ role: "user", grants: [{ session: "*", can: ["read", "write"] }] })
      .setProtectedHeader({ alg: "EdDSA", kid: "k1" })
      .setSubject("quinn")
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(signKey);
    jwks.hold();
    const s = await RawSocket.open(slowKeys.gateway.url);
    s.send({ op: "hello", token });
    for (let rid = 1; rid <= 70; rid++) s.send({ op: "ping", rid });
    // The six frames past the queue are refused while the token is still being verified (the key set is held).
    for (let rid = 65; rid <= 70; rid++) {
      expect(await s.next((f) => f.op === "error" && f.rid === rid)).toMatchObject({
        code: "RATE_LIMITED",
        retryable: true,
      });
    }
    expect(s.frames.some((f) => f.op === "welcome")).toBe(false);
    jwks.release();
    await s.next((f) => f.op === "welcome");
    await s.next((f) => f.op === "pong" && f.rid === 64);
    const pongs = s.frames.flatMap((f) => (f.op === "pong" ? [f.rid] : []));
    expect(pongs).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    // Nothing was lost silently: every frame got exactly one answer, and the refused ones can be sent again.
    expect((await s.request({ op: "ping", rid: 65 })).op).toBe("pong");
    await s.close();
  });
});
