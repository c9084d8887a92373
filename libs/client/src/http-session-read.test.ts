import { formatOffset, type ServerFrame, ThreadlineError } from "@threadline/protocol";
import { describe, expect, test } from "vitest";
import { HttpSessionRead, type LiveMode, type ReadHost } from "./http-session-read.ts";

// HttpSessionRead against a scripted gateway: each GET gets the next scripted answer for its kind (catch-up,
// sse, long-poll); the frames it emits are what a WebSocket attachment would carry.

const EPOCH = "0k2n3f8x1q9zz";
const at = (seq: number) => formatOffset(EPOCH, seq);
const event = (seq: number, type = "note", data: unknown = {}) => ({
  epoch: EPOCH,
  seq,
  event: { id: `e${seq}`, type, from: { kind: "user", id: "u" }, ts: 1, data },
});

function page(messages: unknown[], next: number, upToDate = true): Response {
  const headers: Record<string, string> = { "stream-next-offset": at(next), "threadline-epoch": EPOCH };
  if (upToDate) headers["stream-up-to-date"] = "true";
  return new Response(JSON.stringify(messages), { status: 200, headers });
}

function sse(chunks: string[], hold = false): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      if (!hold) controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
}

const control = (next: number, upToDate = true) =>
  `event: control\ndata:${JSON.stringify({ streamNextOffset: at(next), streamCursor: "c1", ...(upToDate ? { upToDate } : {}) })}\n\n`;
const data = (...messages: unknown[]) => `event: data\ndata:${JSON.stringify(messages)}\n\n`;
const refusal = (status: number, code: string) =>
  new Response(JSON.stringify({ code, message: code, retryable: false }), { status });

type Answer = Response | Error | (() => Response | Promise<Response>);

class ScriptedHost implements ReadHost {
  readonly frames: ServerFrame[] = [];
  readonly queries: string[] = [];
  lostWith: ThreadlineError | undefined | "network";
  endedReads = 0;
  liveMode: LiveMode = "sse";
  readonly fallbackAfterMs = 50;
  private readonly waiting: (() => void)[] = [];

  readonly snapshots: number[] = [];
  snapshotAnswer: Response | undefined;

  constructor(private readonly script: Record<"catchup" | "sse" | "long-poll", Answer[]>) {}

  async snapshot(_session: string, seq: number): Promise<Response> {
    this.snapshots.push(seq);
    return (
      this.snapshotAnswer ?? new Response(JSON.stringify({ code: "UNAVAILABLE", message: "none" }), { status: 503 })
    );
  }

  async get(_session: string, query: string, signal: AbortSignal): Promise<Response> {
    this.queries.push(query);
    this.wake();
    const kind = query.includes("live=sse") ? "sse" : query.includes("live=long-poll") ? "long-poll" : "catchup";
    const answer = this.script[kind].shift();
    if (answer === undefined) {
      // Nothing more scripted: hang until the read stops (a live read waiting for events).
      return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
    }
    if (answer instanceof Error) throw answer;
    return typeof answer === "function" ? answer() : answer;
  }
  emit(frame: ServerFrame): void {
    this.frames.push(frame);
    this.wake();
  }
  lost(error: ThreadlineError | undefined): void {
    this.lostWith = error ?? "network";
    this.wake();
  }
  ended(): void {
    this.endedReads++;
    this.wake();
  }
  private wake(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }
  useLongPoll(): void {
    this.liveMode = "long-poll";
  }
  /** Resolves once `done()` holds, re-checked after every request, frame, end or loss. */
  async until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  ops(): string[] {
    return this.frames.map((f) => (f.op === "event" ? `event ${f.seq}` : f.op));
  }
}

function read(host: ScriptedHost, from: ConstructorParameters<typeof HttpSessionRead>[3], state = false) {
  const r = new HttpSessionRead(host, "s1", 7, from, state);
  r.start();
  return r;
}

describe("HttpSessionRead", () => {
  test("catch-up, then SSE live from the last offset: attached, events, one synced, reconnects where it left", async () => {
    const host = new ScriptedHost({
      catchup: [page([event(1), event(2)], 2)],
      sse: [sse([data(event(3)), control(3), data(event(4)), control(4)]), sse([control(4)])],
      "long-poll": [],
    });
    const r = read(host, "start");
    await host.until(() => host.queries.length >= 4);
    r.stop();
    expect(host.frames[0]).toEqual({ op: "attached", rid: 7, session: "s1", epoch: EPOCH, from: 0 });
    expect(host.ops()).toEqual(["attached", "event 1", "event 2", "synced", "event 3", "event 4"]);
    expect(host.frames[3]).toEqual({ op: "synced", session: "s1", seq: 2 });
    expect(host.queries).toEqual([
      "offset=-1",
      `offset=${encodeURIComponent(at(2))}&live=sse`,
      `offset=${encodeURIComponent(at(4))}&live=sse&cursor=c1`,
      `offset=${encodeURIComponent(at(4))}&live=sse&cursor=c1`,
    ]);
  });

  test("a position resumes after its seq; 'now' starts at the tail the gateway names", async () => {
    const fromPosition = new ScriptedHost({ catchup: [page([event(6)], 6)], sse: [], "long-poll": [] });
    read(fromPosition, { epoch: EPOCH, seq: 5 });
    await fromPosition.until(() => fromPosition.frames.length >= 3);
    expect(fromPosition.queries[0]).toBe(`offset=${encodeURIComponent(at(5))}`);
    expect(fromPosition.frames[0]).toMatchObject({ op: "attached", from: 5 });
    const fromNow = new ScriptedHost({ catchup: [page([], 42)], sse: [], "long-poll": [] });
    read(fromNow, "now");
    await fromNow.until(() => fromNow.frames.length >= 2);
    expect(fromNow.queries[0]).toBe("offset=now");
    expect(fromNow.ops()).toEqual(["attached", "synced"]);
    expect(fromNow.frames[0]).toMatchObject({ from: 42 });
  });

  test("a state snapshot at the start comes from the gateway, before any event", async () => {
    const objects = { cart: { value: { n: 3 }, version: 3, updatedBy: { kind: "user", id: "u" } } };
    const host = new ScriptedHost({ catchup: [page([event(4)], 4)], sse: [], "long-poll": [] });
    host.snapshotAnswer = new Response(JSON.stringify({ session: "s1", seq: 3, objects }), { status: 200 });
    read(host, { epoch: EPOCH, seq: 3 }, true);
    await host.until(() => host.frames.length >= 4);
    expect(host.ops()).toEqual(["attached", "state", "event 4", "synced"]);
    expect(host.frames[1]).toEqual({ op: "state", session: "s1", seq: 3, objects });
    expect(host.snapshots).toEqual([3]);
  });

  test("a failed snapshot ends the attachment retryably (the handle re-attaches)", async () => {
    const host = new ScriptedHost({ catchup: [page([], 3)], sse: [], "long-poll": [] });
    read(host, { epoch: EPOCH, seq: 3 }, true);
    await host.until(() => host.endedReads > 0);
    expect(host.frames.at(-1)).toMatchObject({ op: "detached", code: "UNAVAILABLE", retryable: true });
  });

  test("an SSE response that sends nothing within fallbackAfterMs makes the connection long-poll", async () => {
    const host = new ScriptedHost({
      catchup: [page([], 2)],
      sse: [sse([], true)],
      "long-poll": [page([event(3)], 3), new Response(null, { status: 204, headers: { "stream-next-offset": at(3) } })],
    });
    const r = read(host, "start");
    await host.until(() => host.queries.length >= 4);
    r.stop();
    expect(host.liveMode).toBe("long-poll");
    expect(host.ops()).toEqual(["attached", "synced", "event 3"]);
    expect(host.queries.slice(2)).toEqual([
      `offset=${encodeURIComponent(at(2))}&live=long-poll`,
      `offset=${encodeURIComponent(at(3))}&live=long-poll`,
    ]);
  });

  test.each([
    [
      "410 before attached: the attach is refused",
      [refusal(410, "GONE")],
      [],
      { op: "error", rid: 7, code: "INSUFFICIENT_STATE" },
    ],
    [
      "410 on a live read: the attachment ends",
      [page([], 1)],
      [refusal(410, "GONE")],
      { op: "detached", code: "INSUFFICIENT_STATE" },
    ],
    [
      "503 on a live read: ended, retryable",
      [page([], 1)],
      [new Response("", { status: 503 })],
      { op: "detached", code: "UNAVAILABLE", retryable: true },
    ],
    [
      "a cursor: TRANSPORT_UNSUPPORTED",
      [],
      [],
      { op: "error", rid: 7, code: "TRANSPORT_UNSUPPORTED", retryable: false },
    ],
  ])("%s", async (name, catchup, live, expected) => {
    const host = new ScriptedHost({ catchup, sse: live, "long-poll": [] });
    read(host, name.includes("cursor") ? "cursor" : "start");
    await host.until(() => host.endedReads > 0);
    expect(host.frames.at(-1)).toMatchObject({ session: "s1", ...expected });
    expect(host.lostWith).toBeUndefined();
  });

  test.each([
    ["a 401 ends the connection with the auth error", refusal(401, "TOKEN_EXPIRED"), "TOKEN_EXPIRED"],
    ["a network failure ends the connection", new TypeError("fetch failed"), "network"],
  ])("%s", async (_, answer, expected) => {
    const host = new ScriptedHost({ catchup: [answer], sse: [], "long-poll": [] });
    read(host, "start");
    await host.until(() => host.lostWith !== undefined);
    expect(host.lostWith instanceof ThreadlineError ? host.lostWith.code : host.lostWith).toBe(expected);
    expect(host.frames).toEqual([]);
  });
});
