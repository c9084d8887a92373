import type { AttachedFrame, ErrorFrame, PublishedFrame, WelcomeFrame } from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

let stack: Stack;
let counter = 0;
const session = () => `proto-${process.pid}-${++counter}`;

beforeAll(async () => {
  stack = await startStack({ gatewayEnv: { THREADLINE_CURSOR_FLUSH_MS: "20" } });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

async function socket(
  options: { encoding?: "msgpack" | "json"; device?: string; sub?: string } = {},
): Promise<RawSocket> {
  const token = await stack.token({ sub: options.sub ?? "alice" });
  const s = await RawSocket.connect(stack.gateway.url, token, options);
  return s;
}

async function publishAgent(s: string, n: number, label = "m"): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const ack = await stack.agent.publish(s, { type: "note", data: { text: `${label}${i}` } });
    seqs.push(ack.seq);
  }
  return seqs;
}

describe("gateway protocol", () => {
  it("welcomes an authenticated socket with its identity, device and limits", async () => {
    const s = await socket({ device: "laptop-1" });
    const welcome = s.frames[0] as WelcomeFrame;
    expect(welcome).toMatchObject({ op: "welcome", version: 1, user: "alice", kind: "user", device: "laptop-1" });
    expect(welcome.limits.maxFrameBytes).toBeGreaterThan(0);
    await s.close();
  });

  it("a second attach to a session while the first is being answered gets ATTACH_IN_PROGRESS (retryable); the first succeeds", async () => {
    const id = session();
    await publishAgent(id, 3);
    const s = await socket();
    // Both frames go out before the gateway can answer the first (it reads the stream first).
    const first = s.request<AttachedFrame>({ op: "attach", session: id, from: "start" });
    const second = s.request<ErrorFrame>({ op: "attach", session: id, from: "start" });
    expect(await second).toMatchObject({ op: "error", code: "ATTACH_IN_PROGRESS", retryable: true, session: id });
    expect(await first).toMatchObject({ op: "attached", session: id, from: 0 });
    await s.waitEvents(id, 3);
    await s.close();
  });

  it("delivers history, then synced, then live events; two sockets see identical sequences", async () => {
    const id = session();
    const history = await publishAgent(id, 5, "h");
    const a = await socket();
    const b = await socket();
    const attachedA = await a.request<AttachedFrame>({ op: "attach", session: id, from: "start" });
    const attachedB = await b.request<AttachedFrame>({ op: "attach", session: id, from: "start" });
    expect(attachedA).toMatchObject({ op: "attached", session: id, from: 0 });
    expect(attachedB.epoch).toBe(attachedA.epoch);
    const synced = await a.next((f) => f.op === "synced" && f.session === id);
    expect(synced).toMatchObject({ seq: history.at(-1) });
    const live = await publishAgent(id, 5, "l");
    await a.waitEvents(id, 10);
    await b.waitEvents(id, 10);
    expect(a.events(id).map((e) => e.seq)).toEqual([...history, ...live]);
    expect(b.events(id).map((e) => e.seq)).toEqual([...history, ...live]);
    expect(a.events(id).map((e) => (e.event.data as { text: string }).text)).toEqual([
      "h0",
      "h1",
      "h2",
      "h3",
      "h4",
      "l0",
      "l1",
      "l2",
      "l3",
      "l4",
    ]);
    // history precedes `synced`, live follows it
    const syncedIndex = a.frames.findIndex((f) => f.op === "synced" && f.session === id);
    const lastHistoryIndex = a.frames.findIndex((f) => f.op === "event" && f.seq === history.at(-1));
    expect(lastHistoryIndex).toBeLessThan(syncedIndex);
    await Promise.all([a.close(), b.close()]);
  });

  it("a late joiner gets the full history then the live events", async () => {
    const id = session();
    const early = await socket();
    await early.request({ op: "attach", session: id, from: "start" });
    const first = await publishAgent(id, 20, "a");
    await early.waitEvents(id, 20);
    const late = await socket();
    await late.request({ op: "attach", session: id });
    const second = await publishAgent(id, 20, "b");
    await late.waitEvents(id, 40);
    await early.waitEvents(id, 40);
    expect(late.events(id).map((e) => e.seq)).toEqual([...first, ...second]);
    expect(early.events(id).map((e) => e.seq)).toEqual([...first, ...second]);
    await Promise.all([early.close(), late.close()]);
  });

  it("attach from now delivers only events stored after the attach", async () => {
    const id = session();
    await publishAgent(id, 3, "old");
    const s = await socket();
    const attached = await s.request<AttachedFrame>({ op: "attach", session: id, from: "now" });
    await s.next((f) => f.op === "synced" && f.session === id);
    const fresh = await publishAgent(id, 2, "new");
    await s.waitEvents(id, 2);
    expect(s.events(id).map((e) => e.seq)).toEqual(fresh);
    expect(attached.from).toBeLessThan(fresh[0]!);
    await s.close();
  });

  it("resumes from a position with exactly the events after it", async () => {
    const id = session();
    const seqs = await publishAgent(id, 10);
    const first = await socket();
    const attached = await first.request<AttachedFrame>({ op: "attach", session: id, from: "start" });
    await first.waitEvents(id, 10);
    first.terminate();
    const more = await publishAgent(id, 5, "x");
    const again = await socket();
    await again.request({ op: "attach", session: id, from: { epoch: attached.epoch, seq: seqs[6] } });
    await again.waitEvents(id, 8);
    expect(again.events(id).map((e) => e.seq)).toEqual([...seqs.slice(7), ...more]);
    await again.close();
  });

  it("stores client input stamped with the token's identity and dedupes a retried event id", async () => {
    const id = session();
    const s = await socket({ sub: "bob", device: "phone" });
    await s.request({ op: "attach", session: id, from: "start" });
    const published = await s.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { id: "evt-retry-1", type: "input", data: { text: "hello" } },
    });
    expect(published).toMatchObject({ op: "published", id: "evt-retry-1", duplicate: false });
    const retry = await s.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { id: "evt-retry-1", type: "input", data: { text: "hello" } },
    });
    expect(retry).toMatchObject({ duplicate: true, seq: published.seq });
    await s.waitEvents(id, 1);
    const [stored] = s.events(id);
    expect(stored?.seq).toBe(published.seq);
    expect(stored?.event).toMatchObject({
      id: "evt-retry-1",
      type: "input",
      from: { kind: "user", id: "bob", device: "phone" },
    });
    // history agrees: exactly one stored event
    const history = [];
    for await (const r of stack.agent.history(id)) history.push(r);
    expect(history.map((r) => r.seq)).toEqual([published.seq]);
    await s.close();
  });

  it("ack stores the device cursor and a reconnect without a position resumes after it", async () => {
    const id = session();
    const seqs = await publishAgent(id, 6);
    const s = await socket({ device: "tablet" });
    await s.request({ op: "attach", session: id, from: "start" });
    await s.waitEvents(id, 6);
    s.send({ op: "ack", session: id, seq: seqs[3] });
    // detach flushes the cursor; the reply arrives after the ack was processed
    await s.request({ op: "detach", session: id });
    await s.close();
    const back = await socket({ device: "tablet" });
    await back.request({ op: "attach", session: id });
    await back.waitEvents(id, 2);
    expect(back.events(id).map((e) => e.seq)).toEqual(seqs.slice(4));
    // another device has no cursor: it gets the whole history
    const other = await socket({ device: "desktop" });
    await other.request({ op: "attach", session: id });
    await other.waitEvents(id, 6);
    expect(other.events(id).map((e) => e.seq)).toEqual(seqs);
    await Promise.all([back.close(), other.close()]);
  });

  it("an ack beyond what was delivered is refused", async () => {
    const id = session();
    const [seq] = await publishAgent(id, 1);
    const s = await socket();
    await s.request({ op: "attach", session: id, from: "start" });
    await s.waitEvents(id, 1);
    s.send({ op: "ack", session: id, seq: seq! + 1000 });
    const error = await s.next<ErrorFrame>((f) => f.op === "error");
    expect(error).toMatchObject({ code: "INVALID_POSITION", session: id, retryable: false });
    await s.close();
  });

  it("answers JSON text frames in JSON", async () => {
    const id = session();
    const s = await socket({ encoding: "json" });
    expect(s.frames[0]?.op).toBe("welcome");
    await s.request({ op: "attach", session: id, from: "start" });
    await publishAgent(id, 2);
    await s.waitEvents(id, 2);
    const pong = await s.request({ op: "ping" });
    expect(pong.op).toBe("pong");
    await s.close();
  });

  it("refuses a position from another epoch, one from the future, and one naming another event", async () => {
    const id = session();
    const [seq] = await publishAgent(id, 1);
    const s = await socket();
    const attached = await s.request<AttachedFrame>({ op: "attach", session: id, from: "start" });
    await s.waitEvents(id, 1);
    const stale = await s.request<ErrorFrame>({
      op: "attach",
      session: `${id}-b`,
      from: { epoch: "not-this-epoch", seq: 1 },
    });
    expect(stale).toMatchObject({ op: "error", code: "INSUFFICIENT_STATE", retryable: false });
    const future = await s.request<ErrorFrame>({
      op: "attach",
      session: `${id}-c`,
      from: { epoch: attached.epoch, seq: seq! + 1_000_000 },
    });
    // Never handed out by the gateway: the stream lost it, or it was made up. Refused after the grace
    // a lagging stream leader gets (PROTOCOL.md §8.1).
    expect(future).toMatchObject({ op: "error", code: "INSUFFICIENT_STATE", retryable: false });
    expect(future.message).toMatch(/after the stream's last seq/);
    const stored = s.events(id)[0]!;
    const resumed = await s.request<AttachedFrame>({
      op: "attach",
      session: `${id}-d`,
      from: { epoch: attached.epoch, seq: stored.seq, id: stored.event.id },
    });
    expect(resumed).toMatchObject({ op: "error", code: "INSUFFICIENT_STATE" });
    expect((resumed as unknown as ErrorFrame).message).toMatch(/no longer holds event/);
    const right = await s.request({
      op: "detach",
      session: id,
    });
    expect(right.op).toBe("detached");
    const same = await s.request<AttachedFrame>({
      op: "attach",
      session: id,
      from: { epoch: attached.epoch, seq: stored.seq, id: stored.event.id },
    });
    expect(same).toMatchObject({ op: "attached", from: stored.seq });
    const wrong = await s.request<ErrorFrame>({
      op: "attach",
      session: id,
      from: { epoch: attached.epoch, seq: stored.seq, id: "not-that-event" },
    });
    expect(wrong).toMatchObject({ op: "error", code: "INSUFFICIENT_STATE" });
    expect(wrong.message).toMatch(/holds event .* not not-that-event/);
    await s.close();
  });

  it("uses one NATS subscription per active session, not per socket", async () => {
    const id = session();
    const before = stack.gateway.activeSessions;
    const sockets = await Promise.all(Array.from({ length: 5 }, () => socket()));
    await Promise.all(sockets.map((s) => s.request({ op: "attach", session: id, from: "now" })));
    expect(stack.gateway.activeSessions).toBe(before + 1);
    await Promise.all(sockets.map((s) => s.close()));
  });
});
