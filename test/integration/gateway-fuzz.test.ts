import { connectAgent } from "@threadline/agent";
import { CloseCode, ErrorCode, encodeJson, encodeMsgpack, type ServerFrame } from "@threadline/protocol";
import { startNatsServer } from "@threadline/test-kit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayProcess, spawnGateway } from "./support/gateway-process.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { mintToken } from "./support/tokens.ts";

// Fuzzing the gateway process with ≥ 100,000 hostile frames: it must stay up, answer each one with a typed
// error (or a regular reply when a frame happens to be valid), never close a socket with an undocumented
// code, keep serving a bystander (every ping answered, every live event delivered in order) and not grow
// its memory with the volume. Latency under load is a benchmark's business, not this test's: on a shared
// machine any wall-clock bound here flakes.
const FUZZ_SOCKETS = 16;
const FRAMES_PER_SOCKET = 6_400; // 102,400 frames in total
const BATCH = 50; // frames sent before a ping barrier (replies are ordered per socket)

let gateway: GatewayProcess;
let stopAll: () => Promise<void>;

beforeAll(async () => {
  const nats = await startNatsServer();
  gateway = await spawnGateway(nats.url, {
    // Raised so every frame is parsed and answered instead of being rate limited or ending the socket.
    THREADLINE_LIMIT_FRAMES_PER_SECOND: "1000000",
    THREADLINE_LIMIT_FRAME_BURST: "1000000",
    THREADLINE_LIMIT_MAX_PROTOCOL_ERRORS: "1000000",
    THREADLINE_LIMIT_AUTH_TIMEOUT_MS: "120000",
  });
  const agent = await connectAgent({ servers: nats.url, id: "fuzz-agent" });
  stopAll = async () => {
    await agent.close();
    await gateway.kill();
    await nats.stop();
  };
  agentPublish = (text) => agent.publish("fuzz-bystander", { type: "note", data: { text } });
});
afterAll(async () => {
  await stopAll?.();
});
let agentPublish: (text: string) => Promise<{ seq: number }>;

/** Deterministic pseudo-random source for the raw-bytes part (fast-check seeds the structured part). */
function xorshift(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const OPS = ["hello", "attach", "detach", "publish", "ack", "ping", "nope", ""];
/**
 * Frames that decode but are wrong: known ops with fields of the wrong type, unknown ops, non-objects.
 * Before authentication a `hello` with a bad token ends the socket (4500, by design), so pre-auth
 * sockets get every op but `hello`.
 */
const wrongTypedFrame = (ops: string[]) =>
  fc.oneof(
    fc.anything({ maxDepth: 3, maxKeys: 5, withBigInt: false }),
    fc.record(
      {
        op: fc.constantFrom(...ops),
        rid: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        session: fc.oneof(
          fc.integer(),
          fc.constant(null),
          fc.string({ maxLength: 3 }).map((s) => `${s}.>*`),
        ),
        seq: fc.oneof(fc.double(), fc.string(), fc.constant(-1)),
        from: fc.anything({ maxDepth: 2 }),
        event: fc.anything({ maxDepth: 2 }),
        token: fc.oneof(fc.integer(), fc.string({ maxLength: 40 })),
      },
      { requiredKeys: ["op"] },
    ),
  );

function hostileFrames(
  socketIndex: number,
  count: number,
  preAuth: boolean,
): { data: Uint8Array | string; binary: boolean }[] {
  const ops = preAuth ? OPS.filter((op) => op !== "hello") : OPS;
  const structured = fc.sample(wrongTypedFrame(ops), {
    numRuns: Math.ceil(count / 2),
    seed: 7_919 * (socketIndex + 1),
  });
  const random = xorshift(socketIndex + 1);
  const frames: { data: Uint8Array | string; binary: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 16;
    if (kind <= 7) {
      // Structured junk, alternating encodings.
      const value = structured[i % structured.length];
      frames.push(
        kind % 2 === 0
          ? { data: encodeMsgpack(value), binary: true }
          : { data: encodeJson(value) ?? "null", binary: false },
      );
    } else if (kind <= 10) {
      // Raw random bytes.
      const bytes = new Uint8Array(1 + Math.floor(random() * 64));
      for (let b = 0; b < bytes.length; b++) bytes[b] = Math.floor(random() * 256);
      frames.push({ data: bytes, binary: true });
    } else if (kind <= 12) {
      // Huge declared lengths: array32/map32/str32/bin32/ext32 headers claiming 4 GiB, then a few bytes.
      const header = [0xdd, 0xdf, 0xdb, 0xc6, 0xc9][Math.floor(random() * 5)]!;
      frames.push({ data: Uint8Array.of(header, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61), binary: true });
    } else if (kind === 13) {
      // Deep nesting: msgpack fixarray chains (deeper than the stack allows) or JSON brackets.
      const depth = 500 + Math.floor(random() * 8_000);
      if (random() < 0.5) frames.push({ data: new Uint8Array(depth).fill(0x91), binary: true });
      else frames.push({ data: `${"[".repeat(depth)}${"]".repeat(depth)}`, binary: false });
    } else {
      // Malformed JSON text.
      const cut = '{"op":"publish","session":"s","event":{"type":"input","data":{"text":"'.slice(
        0,
        1 + Math.floor(random() * 60),
      );
      frames.push({ data: cut, binary: false });
    }
  }
  return frames;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const DOCUMENTED_CLOSES: ReadonlySet<number> = new Set(Object.values(CloseCode));

describe("fuzzing the gateway with ≥ 100,000 hostile frames", () => {
  it("stays up, answers typed errors, keeps serving a bystander and bounds memory", async () => {
    const bystander = await RawSocket.connect(gateway.url, await mintToken({ sub: "carol" }));
    expect(await bystander.request({ op: "attach", session: "fuzz-bystander", from: "now" })).toMatchObject({
      op: "attached",
    });

    const sockets = await Promise.all(
      Array.from({ length: FUZZ_SOCKETS }, async (_, i) =>
        // A quarter of the sockets fuzz before authenticating (the pre-auth path), the rest after.
        i % 4 === 0
          ? RawSocket.open(gateway.url)
          : RawSocket.connect(gateway.url, await mintToken({ sub: `fuzz-${i}` })),
      ),
    );
    const frames = sockets.map((_, i) => hostileFrames(i, FRAMES_PER_SOCKET, i % 4 === 0));
    // While the fuzz runs, an agent publishes to the bystander's session and the bystander pings, in turn.
    // The generous reply timeout only guards against a reply that never comes.
    let fuzzing = true;
    let pings = 0;
    let pongs = 0;
    const publishedDuring: number[] = [];
    const bystanderTraffic = (async () => {
      while (fuzzing) {
        publishedDuring.push((await agentPublish(`during ${publishedDuring.length}`)).seq);
        pings++;
        if ((await bystander.request({ op: "ping" }, 30_000)).op === "pong") pongs++;
      }
    })();
    // Warm up (first batch of each socket), then take the memory baseline.
    let rssAfterWarmup = 0;
    let sent = 0;
    for (let offset = 0; offset < FRAMES_PER_SOCKET; offset += BATCH) {
      await Promise.all(
        sockets.map(async (socket, i) => {
          if (!socket.open) return;
          for (const f of frames[i]!.slice(offset, offset + BATCH)) socket.sendRaw(f.data, f.binary);

          // Ordered replies: once the barrier's pong (or, before auth, its UNAUTHENTICATED error) is back,
          // every frame before it has been answered.
          const rid = 9_000_000 + offset;
          const barrier = socket.waitNew((f) => "rid" in f && f.rid === rid, 20_000);
          socket.sendRaw(encodeMsgpack({ op: "ping", rid }), true);
          await Promise.race([barrier, socket.closed]);
          if (socket.open) sent += Math.min(BATCH, FRAMES_PER_SOCKET - offset);
        }),
      );
      if (offset === 0) rssAfterWarmup = gateway.rss();
    }
    fuzzing = false;
    await bystanderTraffic;
    expect(sent).toBeGreaterThanOrEqual(100_000);

    // Every socket is still open (nothing it sent warranted a close) or closed with a documented code.
    for (const socket of sockets) {
      if (!socket.open) expect(DOCUMENTED_CLOSES.has(socket.closeCode ?? -1)).toBe(true);
    }
    // Every reply is a frame the protocol defines; every error carries a known code.
    const replies = sockets.flatMap((s) => s.frames);
    const errors = replies.filter((f): f is Extract<ServerFrame, { op: "error" }> => f.op === "error");
    expect(errors.length).toBeGreaterThan(FUZZ_SOCKETS * FRAMES_PER_SOCKET * 0.9);
    for (const e of errors) expect(KNOWN_CODES.has(e.code)).toBe(true);
    const ops = new Set(replies.map((f) => f.op));
    for (const op of ops) expect(["error", "pong", "welcome"]).toContain(op);
    const codes = new Set(errors.map((e) => e.code));
    expect(codes).toContain("BAD_FRAME");
    expect(codes).toContain("INVALID_FRAME");
    expect(codes).toContain("UNAUTHENTICATED");

    // The gateway is alive and kept serving the bystander: its socket is open, every ping it sent during the
    // fuzz was answered, and it received every event published meanwhile (and after), in order, once.
    expect(pings).toBeGreaterThan(0);
    expect(pongs).toBe(pings);
    expect(publishedDuring.length).toBeGreaterThan(0);
    const ack = await agentPublish("after the fuzz");
    await bystander.next((f) => f.op === "event" && f.seq === ack.seq, 30_000);
    expect(bystander.events("fuzz-bystander").map((e) => e.seq)).toEqual([...publishedDuring, ack.seq]);
    expect(bystander.frames.filter((f) => f.op === "error")).toEqual([]);
    expect(bystander.open).toBe(true);
    const health = await fetch(`http://127.0.0.1:${gateway.port}/healthz`);
    expect(health.status).toBe(200);

    // Memory: the volume sent (~100k frames, several MB) must not stay resident.
    const growth = gateway.rss() - rssAfterWarmup;
    expect(growth).toBeLessThan(64 * 1024 * 1024);

    await Promise.all([...sockets, bystander].map((s) => s.close()));
  }, 60_000);
});
