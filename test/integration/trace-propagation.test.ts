import { createClient } from "@threadline/client";
import { ErrorCode, encodeMsgpack, type SessionRecord, traceIdOf } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import WebSocket from "ws";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { startStack } from "./support/stack.ts";

// W3C traceparent carried from an agent's publish to the clients (PROTOCOL.md §4.2).
const stack = await startStack();
afterAll(() => stack[Symbol.asyncDispose]());
const TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("trace propagation", () => {
  it("an agent's traceparent reaches SDK clients and raw msgpack / JSON sockets unchanged", async () => {
    const client = createClient({
      url: stack.gateway.url,
      token: () => stack.token({ sub: "alice" }),
      WebSocket: WebSocket as never,
    });
    onTestFinished(() => client.close());
    const received: SessionRecord[] = [];
    (await client.attach("trace-s1", { from: "start" })).onEvent((r) => received.push(r));
    const json = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "bob" }), { encoding: "json" });
    onTestFinished(() => json.close());
    await json.request({ op: "attach", session: "trace-s1", from: "start" });

    const ack = await stack.agent.publish(
      "trace-s1",
      { type: "message.append", ref: "m1", data: { part: 0, delta: "hi" } },
      { traceparent: TRACE },
    );
    await stack.agent.publish("trace-s1", { type: "note" });

    await waitFor(() => received.length >= 2);
    expect(received[0]).toMatchObject({ seq: ack.seq, event: { type: "message.append", trace: TRACE } });
    expect(traceIdOf(received[0]?.event.trace)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    // Without the option the envelope has no trace at all.
    expect(received[1]?.event).not.toHaveProperty("trace");
    await json.waitEvents("trace-s1", 2);
    expect(json.events("trace-s1")[0]?.event).toMatchObject({ trace: TRACE });
  });

  it("the agent SDK refuses an invalid traceparent and stores nothing", async () => {
    for (const traceparent of [
      "00-abc",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      TRACE.toUpperCase(),
    ]) {
      await expect(stack.agent.publish("trace-s2", { type: "note" }, { traceparent })).rejects.toMatchObject({
        code: ErrorCode.INVALID_FRAME,
      });
    }
    const stored = [];
    for await (const r of stack.agent.history("trace-s2")) stored.push(r);
    expect(stored).toEqual([]);
  });

  it("the gateway passes a stored trace through unvalidated; receivers ignore an invalid one", async () => {
    // Written by some other publisher, bypassing the SDK's check.
    await connectionOf(stack.agent).js.publish(
      "tl.trace-s3.out.agent.legacy",
      encodeMsgpack({
        id: "legacy-1",
        type: "note",
        from: { kind: "agent", id: "legacy" },
        ts: Date.now(),
        trace: "junk",
      }),
    );
    const socket = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }));
    onTestFinished(() => socket.close());
    await socket.request({ op: "attach", session: "trace-s3", from: "start" });
    await socket.waitEvents("trace-s3", 1);
    const event = socket.events("trace-s3")[0]?.event as { id: string; trace?: string };
    expect(event).toMatchObject({ id: "legacy-1", trace: "junk" });
    expect(traceIdOf(event.trace)).toBeUndefined();
  });

  it("a trace sent by a client in a publish frame is not stored (clients cannot set it in v1)", async () => {
    const socket = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }));
    onTestFinished(() => socket.close());
    const reply = await socket.request({
      op: "publish",
      session: "trace-s4",
      event: { id: "client-1", type: "input", data: { text: "hi" }, trace: TRACE },
    });
    expect(reply.op).toBe("published");
    const stored = [];
    for await (const r of stack.agent.history("trace-s4")) stored.push(r.event);
    expect(stored).toHaveLength(1);
    expect(stored[0]).not.toHaveProperty("trace");
  });
});
