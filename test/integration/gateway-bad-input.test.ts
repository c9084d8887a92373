import { CloseCode, type ErrorFrame, encodeMsgpack } from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

// Small limits so the limits are reachable quickly; documented defaults are larger.
const LIMITS = {
  THREADLINE_LIMIT_MAX_FRAME_BYTES: "4096",
  THREADLINE_LIMIT_MAX_EVENT_BYTES: "2048",
  THREADLINE_LIMIT_MAX_PAYLOAD_BYTES: "65536",
  THREADLINE_LIMIT_FRAMES_PER_SECOND: "50",
  THREADLINE_LIMIT_FRAME_BURST: "50",
  THREADLINE_LIMIT_MAX_RATE_LIMITED_FRAMES: "30",
  THREADLINE_LIMIT_MAX_SESSIONS_PER_SOCKET: "3",
  THREADLINE_LIMIT_MAX_PROTOCOL_ERRORS: "10",
  THREADLINE_LIMIT_AUTH_TIMEOUT_MS: "500",
};

let stack: Stack;
let bystander: RawSocket;
const BYSTANDER_SESSION = "bystander";

beforeAll(async () => {
  stack = await startStack({ gatewayEnv: LIMITS });
  // A well-behaved socket that must be unaffected by everything below.
  bystander = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "carol" }));
  await bystander.request({ op: "attach", session: BYSTANDER_SESSION, from: "start" });
});
afterAll(async () => {
  // Everyone else misbehaved, the bystander still gets live events and its socket is open.
  const ack = await stack.agent.publish(BYSTANDER_SESSION, { type: "note", data: { text: "still here" } });
  await bystander.next((f) => f.op === "event" && f.seq === ack.seq);
  expect(bystander.open).toBe(true);
  await bystander.close();
  await stack?.[Symbol.asyncDispose]();
});

async function authed(
  claims: Parameters<typeof mintToken>[0] = { sub: "mallory" },
  encoding: "msgpack" | "json" = "msgpack",
) {
  return RawSocket.connect(stack.gateway.url, await mintToken(claims), { encoding });
}

const errorFrame = (s: RawSocket) => s.waitNew<ErrorFrame>((f) => f.op === "error");

describe("bad input gets a typed error and nothing breaks", () => {
  it("malformed msgpack → BAD_FRAME, socket stays usable", async () => {
    const s = await authed();
    const err = errorFrame(s);
    s.sendRaw(Uint8Array.of(0xc1, 0xff, 0x00), true);
    expect(await err).toMatchObject({ code: "BAD_FRAME", retryable: false });
    expect((await s.request({ op: "ping" })).op).toBe("pong");
    await s.close();
  });

  it("malformed JSON → BAD_FRAME", async () => {
    const s = await authed({ sub: "mallory" }, "json");
    const err = errorFrame(s);
    s.sendRaw("{not json", false);
    expect(await err).toMatchObject({ code: "BAD_FRAME" });
    await s.close();
  });

  it("a frame that is not an object → BAD_FRAME; unknown op → UNKNOWN_OP with its rid", async () => {
    const s = await authed();
    let err = errorFrame(s);
    s.send([1, 2, 3]);
    expect(await err).toMatchObject({ code: "BAD_FRAME" });
    err = errorFrame(s);
    s.send({ op: "subscribe-everything", rid: 77 });
    expect(await err).toMatchObject({ code: "UNKNOWN_OP", rid: 77 });
    await s.close();
  });

  it("wrong field types → INVALID_FRAME naming the field", async () => {
    const s = await authed();
    const reply = await s.request<ErrorFrame>({ op: "attach", session: 42 });
    expect(reply).toMatchObject({ op: "error", code: "INVALID_FRAME" });
    expect(reply.message).toContain("session");
    const bad = await s.request<ErrorFrame>({ op: "attach", session: "has.dots.and>wildcards" });
    expect(bad).toMatchObject({ code: "INVALID_FRAME" });
    const pos = await s.request<ErrorFrame>({ op: "attach", session: "ok", from: { epoch: "x", seq: -1 } });
    expect(pos).toMatchObject({ code: "INVALID_FRAME" });
    await s.close();
  });

  it("a frame over maxFrameBytes → FRAME_TOO_LARGE and the socket stays open", async () => {
    const s = await authed();
    const err = errorFrame(s);
    s.send({ op: "ping", rid: 1, pad: "x".repeat(5000) });
    expect(await err).toMatchObject({ code: "FRAME_TOO_LARGE" });
    expect((await s.request({ op: "ping" })).op).toBe("pong");
    await s.close();
  });

  it("a frame over maxPayloadBytes is cut off at the WebSocket layer without being buffered", async () => {
    const s = await authed();
    s.sendRaw(new Uint8Array(70_000), true);
    // uWebSockets.js drops the TCP connection as soon as the length header exceeds the limit.
    expect([CloseCode.ABNORMAL, CloseCode.MESSAGE_TOO_BIG]).toContain(await s.closed);
  });

  it("event data over maxEventBytes → EVENT_TOO_LARGE and nothing is stored", async () => {
    const s = await authed();
    const reply = await s.request<ErrorFrame>({
      op: "publish",
      session: "big",
      event: { type: "input", data: { text: "y".repeat(3000) } },
    });
    expect(reply).toMatchObject({ code: "EVENT_TOO_LARGE", session: "big" });
    const stored = [];
    for await (const r of stack.agent.history("big")) stored.push(r);
    expect(stored).toHaveLength(0);
    await s.close();
  });

  it("event types clients may not publish → EVENT_TYPE_NOT_ALLOWED", async () => {
    const s = await authed();
    for (const type of ["message.append", "presence.join", "turn.start"]) {
      const reply = await s.request<ErrorFrame>({ op: "publish", session: "spoof", event: { type, data: {} } });
      expect(reply).toMatchObject({ code: "EVENT_TYPE_NOT_ALLOWED" });
    }
    await s.close();
  });

  it("attach and publish outside the token's grants → FORBIDDEN; read-only grants cannot write", async () => {
    const s = await authed({ sub: "mallory", grants: [{ session: "mine-*", can: ["read"] }] });
    expect(await s.request({ op: "attach", session: "theirs" })).toMatchObject({
      code: "FORBIDDEN",
      session: "theirs",
    });
    expect(await s.request({ op: "attach", session: "mine-1", from: "start" })).toMatchObject({ op: "attached" });
    expect(await s.request({ op: "publish", session: "mine-1", event: { type: "input", data: {} } })).toMatchObject({
      code: "FORBIDDEN",
    });
    expect(await s.request({ op: "publish", session: "theirs", event: { type: "input", data: {} } })).toMatchObject({
      code: "FORBIDDEN",
    });
    const obs = await authed({
      sub: "olga",
      role: "observer",
      grants: [{ session: "*", can: ["read", "write", "control"] }],
    });
    expect(await obs.request({ op: "publish", session: "mine-1", event: { type: "input", data: {} } })).toMatchObject({
      code: "FORBIDDEN",
    });
    await Promise.all([s.close(), obs.close()]);
  });

  it("operations before hello → UNAUTHENTICATED", async () => {
    const s = await RawSocket.open(stack.gateway.url);
    expect(await s.request({ op: "attach", session: "x" })).toMatchObject({ code: "UNAUTHENTICATED" });
    await s.close();
  });

  it("a missing, forged or expired token closes with the documented terminal codes", async () => {
    const none = await RawSocket.open(stack.gateway.url);
    none.send({ op: "hello" });
    expect(await none.closed).toBe(CloseCode.AUTH_FAILED);
    expect(none.frames[0]).toMatchObject({ op: "error", code: "AUTH_FAILED" });

    const forged = await RawSocket.open(stack.gateway.url);
    forged.send({
      op: "hello",
      token: await mintToken({ sub: "mallory", secret: "another-secret-that-is-long-enough-123" }),
    });
    expect(await forged.closed).toBe(CloseCode.AUTH_FAILED);

    const expired = await RawSocket.open(stack.gateway.url);
    expired.send({ op: "hello", token: await mintToken({ sub: "mallory", expiresIn: -60 }) });
    expect(await expired.closed).toBe(CloseCode.TOKEN_EXPIRED);
    expect(expired.frames[0]).toMatchObject({ code: "TOKEN_EXPIRED" });

    const garbage = await RawSocket.open(stack.gateway.url);
    garbage.send({ op: "hello", token: "not-a-jwt" });
    expect(await garbage.closed).toBe(CloseCode.AUTH_FAILED);
  });

  it("a token in the Authorization header authenticates the upgrade", async () => {
    const token = await mintToken({ sub: "henry" });
    const s = await RawSocket.open(stack.gateway.url, { headers: { authorization: `Bearer ${token}` } });
    s.send({ op: "hello", device: "cli" });
    expect(await s.next((f) => f.op === "welcome")).toMatchObject({ user: "henry", device: "cli" });
    // The upgrade's token serves the first hello only (the gateway drops it then): a refresh must carry one.
    s.send({ op: "hello" });
    expect(await s.next((f) => f.op === "error")).toMatchObject({ code: "INVALID_FRAME" });
    await s.close();
  });

  it("no hello within the auth timeout closes with 4502", async () => {
    const s = await RawSocket.open(stack.gateway.url);
    expect(await s.closed).toBe(CloseCode.AUTH_TIMEOUT);
  });

  it("attaching more sessions than allowed → TOO_MANY_SESSIONS", async () => {
    const s = await authed();
    for (const id of ["lim-1", "lim-2", "lim-3"]) {
      expect(await s.request({ op: "attach", session: id, from: "now" })).toMatchObject({ op: "attached" });
    }
    expect(await s.request({ op: "attach", session: "lim-4", from: "now" })).toMatchObject({
      code: "TOO_MANY_SESSIONS",
    });
    expect(await s.request({ op: "detach", session: "lim-1" })).toMatchObject({ op: "detached" });
    expect(await s.request({ op: "attach", session: "lim-4", from: "now" })).toMatchObject({ op: "attached" });
    expect(await s.request({ op: "detach", session: "never-attached" })).toMatchObject({ code: "NOT_ATTACHED" });
    await s.close();
  });

  it("repeated invalid frames close the socket with 4503", async () => {
    const s = await authed();
    for (let i = 0; i < 12; i++) s.sendRaw(Uint8Array.of(0xc1), true);
    expect(await s.closed).toBe(CloseCode.PROTOCOL_ERROR);
  });

  it("a flood is answered with RATE_LIMITED, then closed with 4003; the bystander is served throughout", async () => {
    const s = await authed();
    const frame = encodeMsgpack({ op: "ping", rid: 1 });
    // Keep flooding (in slices, so the bystander's pings interleave) until the gateway closes the socket.
    const flooding = (async () => {
      while (s.open) {
        for (let i = 0; i < 20; i++) s.sendRaw(frame, true);
        await new Promise((r) => setImmediate(r));
      }
    })();
    // The bystander's own rate limit is untouched by the flood: every ping it sends meanwhile is answered
    // (its latency is not asserted: wall-clock bounds flake on a loaded machine).
    let pings = 0;
    let pongs = 0;
    while (s.open) {
      pings++;
      if ((await bystander.request({ op: "ping" })).op === "pong") pongs++;
    }
    await flooding;
    expect(await s.closed).toBe(CloseCode.FLOOD);
    const limited = s.frames.filter((f) => f.op === "error" && f.code === "RATE_LIMITED");
    expect(limited.length).toBeGreaterThan(0);
    expect(s.frames.filter((f) => f.op === "pong").length).toBeLessThanOrEqual(60);
    expect(pings).toBeGreaterThan(0);
    expect(pongs).toBe(pings);
    expect(bystander.open).toBe(true);
  });
});
