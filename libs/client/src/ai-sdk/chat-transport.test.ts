import { ErrorCode } from "@threadline/protocol";
import type { UIMessage } from "ai";
import { describe, expect, it } from "vitest";
import { fakeSession } from "../test-support/fake-session.ts";
import { ThreadlineChatTransport } from "./chat-transport.ts";

const user = (id: string, text: string): UIMessage => ({ id, role: "user", parts: [{ type: "text", text }] });

/** A transport over a fake session that has sent user message `u1` ("hello"); `abort` is that request's controller. */
async function sentHello() {
  const { session, published } = fakeSession();
  const transport = new ThreadlineChatTransport({ session });
  const abort = new AbortController();
  await transport.sendMessages({
    trigger: "submit-message",
    chatId: "c",
    messageId: undefined,
    messages: [user("u1", "hello")],
    abortSignal: abort.signal,
  });
  return { transport, published, abort };
}

describe("ThreadlineChatTransport", () => {
  it("publishes the user message as an input whose id is the turn id, and cancels that turn on abort", async () => {
    const { published, abort } = await sentHello();
    expect(published).toEqual([
      { id: "u1", type: "input", data: { text: "hello", parts: [{ type: "text", text: "hello" }] } },
    ]);
    abort.abort();
    await Promise.resolve();
    expect(published[1]).toEqual({ type: "cancel", turn: "u1", data: { reason: "stopped by the user" } });
  });

  it("a resume the chat replaces with a newer one does not cancel; stop after a resume does", async () => {
    const { session, published, emit } = fakeSession();
    const transport = new ThreadlineChatTransport({ session });
    emit({ type: "input", id: "t1", from: { kind: "user", id: "alice" }, data: { text: "hi" } });
    emit({ type: "turn.start", turn: "t1", ref: "t1", data: { agent: "a", worker: "w" } });

    const first = new AbortController();
    expect(await transport.reconnectToStream({ chatId: "c", abortSignal: first.signal })).not.toBeNull();
    // What AbstractChat does when a second resume starts: abort the first, then reconnect again.
    first.abort();
    const second = new AbortController();
    const again = transport.reconnectToStream({ chatId: "c", abortSignal: second.signal });
    await again;
    await Promise.resolve();
    expect(published.filter((e) => e.type === "cancel")).toEqual([]);

    second.abort();
    await Promise.resolve();
    expect(published.filter((e) => e.type === "cancel")).toEqual([
      { type: "cancel", turn: "t1", data: { reason: "stopped by the user" } },
    ]);
  });

  it("after close() an abort publishes nothing (leaving the page or unmounting keeps the reply running)", async () => {
    const { transport, published, abort } = await sentHello();
    transport.close();
    abort.abort();
    await Promise.resolve();
    expect(published.map((e) => e.type)).toEqual(["input"]);
  });

  it("refuses a continuation after a client-side tool output (last message not a user message) with INVALID_FRAME", async () => {
    const { session, published } = fakeSession();
    const transport = new ThreadlineChatTransport({ session });
    const assistant: UIMessage = { id: "a1", role: "assistant", parts: [{ type: "text", text: "ok" }] };
    await expect(
      transport.sendMessages({
        trigger: "submit-message",
        chatId: "c",
        messageId: undefined,
        messages: [user("u1", "hello"), assistant],
        abortSignal: undefined,
      }),
    ).rejects.toMatchObject({ code: ErrorCode.INVALID_FRAME });
    expect(published).toEqual([]);
  });

  it("nothing in flight: reconnectToStream resolves null; a turn that ended is not resumed", async () => {
    const { session, emit } = fakeSession();
    const transport = new ThreadlineChatTransport({ session });
    expect(await transport.reconnectToStream({ chatId: "c" })).toBeNull();
    emit({ type: "input", id: "t1", from: { kind: "user", id: "alice" }, data: { text: "hi" } });
    emit({ type: "turn.start", turn: "t1", ref: "t1", data: { agent: "a", worker: "w" } });
    emit({ type: "turn.end", turn: "t1", data: { status: "completed" } });
    expect(await transport.reconnectToStream({ chatId: "c" })).toBeNull();
  });
});
