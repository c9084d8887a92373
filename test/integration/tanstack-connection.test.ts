import type { UIMessage } from "@tanstack/ai";
import { ChatClient } from "@tanstack/ai-client";
import { serveAgent } from "@threadline/agent";
import { streamTextToSession } from "@threadline/agent/ai-sdk";
import { createClient, type SessionHandle } from "@threadline/client";
import { threadlineConnection } from "@threadline/client/tanstack";
import type { SessionRecord } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { isStepCount, jsonSchema, streamText, tool } from "ai";
import { convertArrayToReadableStream, MockLanguageModelV4 } from "ai/test";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { type Stack, startStack } from "./support/stack.ts";

/** One part of a mock model's stream (`LanguageModelV4StreamPart`). */
type ModelStreamPart =
  Awaited<ReturnType<MockLanguageModelV4["doStream"]>>["stream"] extends ReadableStream<infer P> ? P : never;

const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

interface ScriptedCall {
  signal: AbortSignal | undefined;
  push(...parts: ModelStreamPart[]): void;
  finish(): void;
}

/** A mock model whose streams the test writes; an aborted call errors its stream like a cancelled fetch. */
function scriptedModel(): { model: MockLanguageModelV4; calls: ScriptedCall[] } {
  const calls: ScriptedCall[] = [];
  const model = new MockLanguageModelV4({
    doStream: async ({ abortSignal }) => {
      let controller!: ReadableStreamDefaultController<ModelStreamPart>;
      const stream = new ReadableStream<ModelStreamPart>({
        start(c) {
          controller = c;
        },
      });
      abortSignal?.addEventListener("abort", () => controller.error(abortSignal.reason), { once: true });
      calls.push({
        signal: abortSignal,
        push: (...parts) => {
          for (const part of parts) controller.enqueue(part);
        },
        finish: () => {
          controller.enqueue({ type: "text-end", id: "t" });
          controller.enqueue({ type: "finish", finishReason: { unified: "stop", raw: undefined }, usage });
          controller.close();
        },
      });
      controller.enqueue({ type: "stream-start", warnings: [] });
      controller.enqueue({ type: "text-start", id: "t" });
      return { stream };
    },
  });
  return { model, calls };
}

const delta = (text: string): ModelStreamPart => ({ type: "text-delta", id: "t", delta: text });

/** A browser tab: its own client, the session attached from the start, a ChatClient hydrated from the session. */
async function openChat(stack: Stack, session: string, device: string, history: "compact" | "full" = "full") {
  const client = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "alice" }),
    device,
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  onTestFinished(() => client.close());
  const handle = await client.attach(session, { from: "start", history });
  const connection = threadlineConnection({ session: handle });
  onTestFinished(() => connection.close());
  const chat = new ChatClient({ connection, threadId: session, persistence: true });
  onTestFinished(() => chat.dispose());
  // What a UI wrapper does on mount: hydrate from the session, tail a run in flight.
  chat.attach();
  return { handle, connection, chat };
}

function recordLog(handle: SessionHandle): SessionRecord[] {
  const records: SessionRecord[] = [];
  handle.onEvent((r) => records.push(r));
  return records;
}

function textOf(message: UIMessage | undefined): string {
  return (message?.parts ?? []).map((p) => (p.type === "text" ? p.content : "")).join("");
}

test("TanStack ChatClient over the connection: streamText reply with a tool call, then hydrated on another device", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const steps: ModelStreamPart[][] = [
    [
      { type: "stream-start", warnings: [] },
      { type: "tool-call", toolCallId: "call-1", toolName: "weather", input: '{"city":"Oslo"}' },
      { type: "finish", finishReason: { unified: "tool-calls", raw: undefined }, usage },
    ],
    [
      { type: "stream-start", warnings: [] },
      { type: "text-start", id: "t" },
      ...["It ", "is ", "4 °C ", "in ", "Oslo."].map(delta),
      { type: "text-end", id: "t" },
      { type: "finish", finishReason: { unified: "stop", raw: undefined }, usage },
    ],
  ];
  let call = 0;
  const model = new MockLanguageModelV4({
    doStream: async () => ({ stream: convertArrayToReadableStream(steps[call++] ?? []) }),
  });
  const weather = tool({
    inputSchema: jsonSchema<{ city: string }>({ type: "object", properties: { city: { type: "string" } } }),
    execute: async ({ city }) => ({ city, celsius: 4 }),
  });
  const server = await serveAgent({
    agent: stack.agent,
    name: "chat",
    entry: true,
    handler: async (ctx) => {
      await streamTextToSession(ctx, (abortSignal) =>
        streamText({ model, prompt: ctx.text ?? "", tools: { weather }, stopWhen: isStepCount(2), abortSignal }),
      );
    },
  });
  onTestFinished(() => server.stop());

  const laptop = await openChat(stack, "tanstack-1", "laptop");
  await laptop.chat.sendMessage("Weather in Oslo?");

  expect(laptop.chat.getError()).toBeUndefined();
  expect(laptop.chat.getIsLoading()).toBe(false);
  const messages = laptop.chat.getMessages();
  expect(messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  const reply = messages[1]!;
  expect(textOf(reply)).toBe("It is 4 °C in Oslo.");
  const toolCall = reply.parts.find((p) => p.type === "tool-call");
  expect(toolCall).toMatchObject({ id: "call-1", name: "weather", input: { city: "Oslo" } });
  const result = reply.parts.find((p) => p.type === "tool-result");
  expect(result).toMatchObject({ toolCallId: "call-1", state: "complete" });
  expect(JSON.parse(String(result?.type === "tool-result" ? result.content : ""))).toEqual({
    city: "Oslo",
    celsius: 4,
  });

  // Another device hydrates the same conversation from the session.
  const phone = await openChat(stack, "tanstack-1", "phone", "compact");
  await waitFor(() => phone.chat.getMessages().length === 2);
  const hydrated = phone.chat.getMessages();
  expect(hydrated.map((m) => m.role)).toEqual(["user", "assistant"]);
  expect(textOf(hydrated[0])).toBe("Weather in Oslo?");
  expect(textOf(hydrated[1])).toBe("It is 4 °C in Oslo.");
  expect(hydrated[1]!.parts.find((p) => p.type === "tool-call")).toMatchObject({ id: "call-1", name: "weather" });
});

test("TanStack refresh mid-stream: a new ChatClient hydrates and joins the in-flight run, no duplicated or missing text", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const { model, calls } = scriptedModel();
  const server = await serveAgent({
    agent: stack.agent,
    name: "chat",
    entry: true,
    handler: async (ctx) => {
      await streamTextToSession(ctx, (abortSignal) => streamText({ model, prompt: ctx.text ?? "", abortSignal }), {
        flushMs: 5,
      });
    },
  });
  onTestFinished(() => server.stop());

  const before = await openChat(stack, "tanstack-2", "laptop");
  void before.chat.sendMessage("count to twenty");
  const run = await waitFor(() => calls[0]);
  const words = Array.from({ length: 20 }, (_, i) => `${i + 1} `);
  run.push(...words.slice(0, 8).map(delta));
  await waitFor(() => textOf(before.chat.getMessages()[1]) === words.slice(0, 8).join(""));

  // Reload: the old tab is gone without a word (no code of it runs any more); the new one hydrates and tails the run.
  before.connection.close();
  await before.handle.detach();
  const after = await openChat(stack, "tanstack-2", "laptop", "compact");
  await waitFor(() => after.chat.getIsLoading() && textOf(after.chat.getMessages()[1]) === words.slice(0, 8).join(""));
  run.push(...words.slice(8, 14).map(delta));
  await waitFor(() => textOf(after.chat.getMessages()[1]) === words.slice(0, 14).join(""));
  run.push(...words.slice(14).map(delta));
  run.finish();
  await waitFor(() => !after.chat.getIsLoading());

  const messages = after.chat.getMessages();
  expect(messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  expect(textOf(messages[1])).toBe(words.join(""));
  expect(messages[1]!.parts.filter((p) => p.type === "text")).toHaveLength(1);
  expect(after.chat.getError()).toBeUndefined();
  expect(run.signal?.aborted).toBe(false);
});

test("TanStack stop from another ChatClient cancels the model call; the message ends cancelled; the sender's run ends", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const { model, calls } = scriptedModel();
  const server = await serveAgent({
    agent: stack.agent,
    name: "chat",
    entry: true,
    handler: async (ctx) => {
      await streamTextToSession(ctx, (abortSignal) => streamText({ model, prompt: ctx.text ?? "", abortSignal }));
    },
  });
  onTestFinished(() => server.stop());

  const laptop = await openChat(stack, "tanstack-3", "laptop");
  const log = recordLog(laptop.handle);
  const sent = laptop.chat.sendMessage("write a long essay");
  const run = await waitFor(() => calls[0]);
  run.push(delta("Once "), delta("upon "));
  await waitFor(() => textOf(laptop.chat.getMessages()[1]) === "Once upon ");

  // The phone opens the chat mid-reply (hydrate + joinRun), then presses Stop.
  const phone = await openChat(stack, "tanstack-3", "phone", "compact");
  await waitFor(() => phone.chat.getIsLoading() && textOf(phone.chat.getMessages()[1]) === "Once upon ");
  run.push(delta("a "));
  await waitFor(() => textOf(phone.chat.getMessages()[1]) === "Once upon a ");
  phone.chat.stop();

  await waitFor(() => run.signal?.aborted);
  const turn = log.find((r) => r.event.type === "input")!.event.id;
  const end = await waitFor(() => log.find((r) => r.event.type === "turn.end" && r.event.turn === turn));
  expect(end.event.data).toMatchObject({ status: "cancelled" });
  const messageEnd = log.find((r) => r.event.type === "message.end" && r.event.turn === turn);
  expect(messageEnd?.event.data).toEqual({ status: "cancelled" });
  expect(log.find((r) => r.event.type === "cancel")?.event).toMatchObject({
    turn,
    from: { kind: "user", id: "alice", device: "phone" },
  });

  // The laptop's run ends (RUN_FINISHED) with the text it had.
  await sent;
  expect(laptop.chat.getIsLoading()).toBe(false);
  expect(textOf(laptop.chat.getMessages()[1])).toBe("Once upon a ");
  expect(phone.chat.getIsLoading()).toBe(false);
});

test("TanStack: a failing model call ends the run with RUN_ERROR carrying the model's error", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const model = new MockLanguageModelV4({
    doStream: async () => {
      throw new Error("model overloaded");
    },
  });
  const server = await serveAgent({
    agent: stack.agent,
    name: "chat",
    entry: true,
    handler: (ctx) =>
      streamTextToSession(ctx, (abortSignal) =>
        streamText({ model, prompt: ctx.text ?? "", abortSignal, onError: () => {} }),
      ).then(() => {}),
  });
  onTestFinished(() => server.stop());

  const { chat, handle } = await openChat(stack, "tanstack-4", "laptop");
  const log = recordLog(handle);
  await chat.sendMessage("hello?");

  expect(chat.getError()?.message).toBe("model overloaded");
  expect(chat.getIsLoading()).toBe(false);
  expect(log.find((r) => r.event.type === "message.end")?.event.data).toEqual({
    status: "error",
    error: "model overloaded",
  });
  expect(log.find((r) => r.event.type === "turn.end")?.event.data).toMatchObject({ status: "failed" });
});
