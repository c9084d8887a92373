import {
  type AttachedFrame,
  type EventsFrame,
  MAX_EVENTS_FRAME_BYTES,
  MAX_EVENTS_PER_FRAME,
  type SyncedFrame,
  type WelcomeFrame,
} from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

// Catch-ups in `events` frames (PROTOCOL.md §7.3): a socket whose hello accepts them gets a resume in
// batches, one that does not gets `event` frames; both get exactly the same events, whatever path the
// catch-up takes (history, the feed's ring, compact) and however the socket's buffer backs up.

let stack: Stack;
let counter = 0;
const session = () => `batch-${process.pid}-${++counter}`;

beforeAll(async () => {
  // A tiny socket buffer: nearly every catch-up chunk leaves the socket backed up, so the catch-up waits
  // for drains and live events fall behind and catch up again (PROTOCOL.md §8.3), batches included.
  stack = await startStack({ gatewayEnv: { THREADLINE_LIMIT_MAX_BUFFERED_BYTES: "8192" } });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

async function connect(options: { accept?: string[]; encoding?: "msgpack" | "json" } = {}): Promise<RawSocket> {
  return RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }), options);
}

/** Publishes `n` agent events (sizes vary, a few large) and returns their seqs. */
async function publish(
  s: string,
  n: number,
  label = "e",
  padOf = (i: number) => (i % 97 === 0 ? 20_000 : i % 300),
): Promise<number[]> {
  const acks = [];
  for (let i = 0; i < n; i += 100) {
    const chunk = Array.from({ length: Math.min(100, n - i) }, (_, j) =>
      stack.agent.publish(s, {
        type: "note",
        data: { text: `${label}${i + j}`, pad: "p".repeat(padOf(i + j)) },
      }),
    );
    acks.push(...(await Promise.all(chunk)));
  }
  return acks.map((a) => a.seq).sort((a, b) => a - b);
}

/** Attaches after `from`, waits for `synced`, and returns the events and the frames that carried them. */
async function resume(socket: RawSocket, s: string, from: { epoch: string; seq: number }, history?: "compact") {
  const attached = await socket.request({ op: "attach", session: s, from, ...(history ? { history } : {}) });
  expect(attached.op).toBe("attached");
  await socket.next<SyncedFrame>((f) => f.op === "synced" && f.session === s, 30_000);
  const batches = socket.frames.filter((f): f is EventsFrame => f.op === "events" && f.session === s);
  return { events: socket.events(s), batches };
}

const epochOf = async () => {
  const probe = await connect();
  const s = session();
  const attached = await probe.request<AttachedFrame>({ op: "attach", session: s, from: "now" });
  await probe.close();
  return attached.epoch;
};

describe("events frames", () => {
  it("are negotiated in hello/welcome: asked → frames: [events]; not asked or unknown → none", async () => {
    const asking = await connect({ accept: ["from-the-future", "events"] });
    const old = await connect();
    expect((asking.frames[0] as WelcomeFrame).frames).toEqual(["events"]);
    expect((old.frames[0] as WelcomeFrame).frames ?? []).toEqual([]);
    const bad = await RawSocket.open(stack.gateway.url);
    bad.send({ op: "hello", token: await stack.token({ sub: "alice" }), accept: "events" });
    expect(await bad.next((f) => f.op === "error")).toMatchObject({ code: "INVALID_FRAME" });
    await Promise.all([asking.close(), old.close(), bad.close()]);
  });

  it("a resume from history: batches to the socket that asked, the same events as event frames to one that did not", async () => {
    const s = session();
    const seqs = await publish(s, 3000);
    const epoch = await epochOf();
    const from = { epoch, seq: seqs[250]! };
    const batched = await connect({ accept: ["events"] });
    const single = await connect();
    const json = await connect({ accept: ["events"], encoding: "json" });
    const a = await resume(batched, s, from);
    const b = await resume(single, s, from);
    const c = await resume(json, s, from);

    expect(b.batches).toEqual([]);
    expect(b.events.map((e) => e.seq)).toEqual(seqs.slice(251));
    expect(a.events).toEqual(b.events);
    expect(c.events).toEqual(b.events);
    for (const r of [a, c]) {
      expect(r.batches.length).toBeGreaterThan(1);
      // Far fewer frames than events: most events came in batches.
      expect(r.batches.reduce((n, f) => n + f.seqs.length, 0)).toBeGreaterThan(b.events.length / 2);
      for (const f of r.batches) {
        expect(f.seqs.length).toBe(f.events.length);
        expect(f.seqs.length).toBeLessThanOrEqual(MAX_EVENTS_PER_FRAME);
        expect(f.seqs).toEqual([...f.seqs].sort((x, y) => x - y));
      }
    }
    await Promise.all([batched.close(), single.close(), json.close()]);
  });

  it("frames stay within MAX_EVENTS_FRAME_BYTES", async () => {
    const s = session();
    const seqs = await publish(s, 400, "e", () => 5000);
    const epoch = await epochOf();
    const socket = await connect({ accept: ["events"] });
    const r = await resume(socket, s, { epoch, seq: 0 });
    expect(r.events.map((e) => e.seq)).toEqual(seqs);
    expect(r.batches.length).toBeGreaterThan(0);
    // Measured on the wire: the frames' msgpack bytes.
    expect(Math.max(...socket.sizes)).toBeLessThanOrEqual(MAX_EVENTS_FRAME_BYTES);
    expect(Math.max(...socket.sizes)).toBeGreaterThan(MAX_EVENTS_FRAME_BYTES / 2);
    await socket.close();
  });

  it("compact catch-ups and the feed's ring are batched too, with the same events as single frames", async () => {
    const s = session();
    const seqs = await publish(s, 600);
    const epoch = await epochOf();
    // The first attach activates the session's feed; the later ones resume from its ring.
    for (const history of [undefined, "compact" as const]) {
      const batched = await connect({ accept: ["events"] });
      const single = await connect();
      const a = await resume(batched, s, { epoch, seq: seqs[100]! }, history);
      const b = await resume(single, s, { epoch, seq: seqs[100]! }, history);
      expect(a.events).toEqual(b.events);
      expect(a.batches.length).toBeGreaterThan(0);
      if (!history) expect(b.events.map((e) => e.seq)).toEqual(seqs.slice(101));
      await Promise.all([batched.close(), single.close()]);
    }
  });

  it("a socket that stops reading mid-resume while events keep coming still gets every event once, in order", async () => {
    const s = session();
    const seqs = await publish(s, 2000);
    const epoch = await epochOf();
    const socket = await connect({ accept: ["events"] });
    socket.pause();
    socket.send({ op: "attach", rid: 1, session: s, from: { epoch, seq: 0 } });
    const live = await publish(s, 300, "live");
    socket.resume();
    await socket.waitEvents(s, seqs.length + live.length, 30_000);
    expect(socket.events(s).map((e) => e.seq)).toEqual([...seqs, ...live]);
    expect(socket.frames.some((f) => f.op === "events")).toBe(true);
    await socket.close();
  });
});
