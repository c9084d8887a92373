import { serveAgent } from "@threadline/agent";
import { sessionUIMessages, streamTextToSession } from "@threadline/agent/ai-sdk";
import { createClient, type SessionHandle } from "@threadline/client";
import { ThreadlineChatTransport } from "@threadline/client/ai-sdk";
import type { SessionRecord } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import {
  AbstractChat,
  type ChatInit,
  type ChatState,
  type ChatStatus,
  convertToModelMessages,
  isStepCount,
  jsonSchema,
  type ModelMessage,
  readUIMessageStream,
  streamText,
  tool,
  type UIMessage,
} from "ai";
import { convertArrayToReadableStream, MockLanguageModelV4 } from "ai/test";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { type Stack, startStack } from "./support/stack.ts";

/** The smallest concrete chat: AbstractChat over a plain in-memory state (what useChat / Vue / Svelte wrap). */
class TestChat extends AbstractChat<UIMessage> {
  constructor(init: ChatInit<UIMessage>) {
    super({ ...init, state: new MemoryChatState(init.messages ?? []) });
  }
}

class MemoryChatState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  constructor(public messages: UIMessage[]) {}
  pushMessage = (message: UIMessage) => {
    this.messages = [...this.messages, message];
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index: number, message: UIMessage) => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

/** One part of a mock model's stream (`LanguageModelV4StreamPart`). */
type ModelStreamPart =
  Awaited<ReturnType<MockLanguageModelV4["doStream"]>>["stream"] extends ReadableStream<infer P> ? P : never;

const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/** A model call the test drives token by token; `signal` is the abortSignal streamText passed to the model. */
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

function tab(stack: Stack, device: string) {
  const client = createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "alice" }),
    device,
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  onTestFinished(() => client.close());
  return client;
}

/** Attaches from the start and creates the transport in the same tick, as the transport requires. */
async function openChat(stack: Stack, session: string, device: string, history: "compact" | "full" = "full") {
  const handle = await tab(stack, device).attach(session, { from: "start", history });
  const transport = new ThreadlineChatTransport({ session: handle });
  onTestFinished(() => transport.close());
  const log = recordLog(handle);
  await handle.whenSynced();
  const chat = new TestChat({ transport, messages: transport.messages() });
  return { handle, transport, chat, log };
}

function recordLog(handle: SessionHandle): SessionRecord[] {
  const records: SessionRecord[] = [];
  handle.onEvent((r) => records.push(r));
  return records;
}

function textOf(message: UIMessage | undefined): string {
  return (message?.parts ?? []).map((p) => (p.type === "text" ? p.text : "")).join("");
}

test("agent streamText -> session -> ChatTransport -> AbstractChat: the chat's reply equals the model's output", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  // Step 1 calls a server-side tool, step 2 answers with text (reasoning first).
  const steps: ModelStreamPart[][] = [
    [
      { type: "stream-start", warnings: [] },
      { type: "reasoning-start", id: "r" },
      { type: "reasoning-delta", id: "r", delta: "look it up" },
      { type: "reasoning-end", id: "r" },
      { type: "tool-call", toolCallId: "call-1", toolName: "weather", input: '{"city":"Oslo"}' },
      { type: "finish", finishReason: { unified: "tool-calls", raw: undefined }, usage },
    ],
    [
      { type: "stream-start", warnings: [] },
      { type: "text-start", id: "t" },
      ...["It ", "is ", "4 °C ", "in ", "Oslo ", "— ", "bring ", "a ", "coat."].map(delta),
      { type: "text-end", id: "t" },
      { type: "finish", finishReason: { unified: "stop", raw: undefined }, usage },
    ],
  ];
  const modelFor = () => {
    let call = 0;
    return new MockLanguageModelV4({
      doStream: async () => ({ stream: convertArrayToReadableStream(steps[call++] ?? []) }),
    });
  };
  const weather = tool({
    inputSchema: jsonSchema<{ city: string }>({ type: "object", properties: { city: { type: "string" } } }),
    execute: async ({ city }) => ({ city, celsius: 4 }),
  });
  const models: MockLanguageModelV4[] = [];
  const run = (messages: ModelMessage[], abortSignal?: AbortSignal) => {
    const model = modelFor();
    models.push(model);
    return streamText({ model, messages, tools: { weather }, stopWhen: isStepCount(2), abortSignal });
  };

  const server = await serveAgent({
    agent: stack.agent,
    name: "chat",
    entry: true,
    handler: async (ctx) => {
      // The conversation comes from the session, not from the request.
      const messages = await convertToModelMessages(await sessionUIMessages(ctx));
      await streamTextToSession(ctx, (signal) => run(messages, signal));
    },
  });
  onTestFinished(() => server.stop());

  const { chat } = await openChat(stack, "ai-sdk-1", "laptop");
  await chat.sendMessage({ text: "Weather in Oslo?" });

  // The same model output read by the AI SDK directly, without Threadline in between.
  const prompt: ModelMessage[] = [{ role: "user", content: "Weather in Oslo?" }];
  let expected: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream: run(prompt).toUIMessageStream() })) {
    expected = message;
  }
  // The agent's model saw the user's message, read back from the session.
  expect(models[0]!.doStreamCalls[0]!.prompt).toEqual(models[1]!.doStreamCalls[0]!.prompt);
  expect(JSON.stringify(models[0]!.doStreamCalls[0]!.prompt)).toContain("Weather in Oslo?");
  expect(chat.status).toBe("ready");
  expect(chat.error).toBeUndefined();
  expect(chat.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  const reply = chat.messages[1]!;
  expect(reply.parts).toEqual(expected!.parts);
  expect(reply.parts.map((p) => p.type)).toEqual(["step-start", "reasoning", "tool-weather", "step-start", "text"]);
  expect(textOf(reply)).toBe("It is 4 °C in Oslo — bring a coat.");

  // A second device opening the session later sees the same conversation, ready to continue.
  const other = await openChat(stack, "ai-sdk-1", "phone", "compact");
  // Compact catch-up: the finished reply came as one snapshot, not as its deltas.
  expect(other.log.filter((r) => r.event.type === "message.snapshot")).toHaveLength(1);
  expect(other.log.some((r) => r.event.type === "message.append")).toBe(false);
  expect(other.chat.messages.map((m) => [m.id, m.role])).toEqual(chat.messages.map((m) => [m.id, m.role]));
  expect(other.chat.messages[1]!.parts).toEqual(expected!.parts);
});

test("refresh mid-stream: a new transport and chat resume the in-flight reply with no duplicated or missing text", async () => {
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

  const before = await openChat(stack, "ai-sdk-2", "laptop");
  void before.chat.sendMessage({ text: "count to twenty" });
  const call = await waitFor(() => calls[0]);
  const words = Array.from({ length: 20 }, (_, i) => `${i + 1} `);
  call.push(...words.slice(0, 8).map(delta));
  await waitFor(() => textOf(before.chat.messages[1]) === words.slice(0, 8).join(""));

  // The page reloads: the old client is gone (no control event); a new one resumes the reply.
  await before.handle.detach();
  const after = await openChat(stack, "ai-sdk-2", "laptop", "compact");
  // The chat starts from the session's messages, including the partial reply.
  expect(after.chat.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  const resumed = after.chat.resumeStream();
  await waitFor(() => after.chat.status === "streaming");
  call.push(...words.slice(8, 14).map(delta));
  await waitFor(() => textOf(after.chat.messages.at(-1)) === words.slice(0, 14).join(""));
  call.push(...words.slice(14).map(delta));
  call.finish();
  await resumed;

  expect(after.chat.status).toBe("ready");
  expect(after.chat.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  expect(textOf(after.chat.messages[1])).toBe(words.join(""));
  expect(after.chat.messages[1]!.parts.filter((p) => p.type === "text")).toEqual([
    { type: "text", text: words.join(""), state: "done" },
  ]);
  expect(call.signal?.aborted).toBe(false);
  // Nothing is in flight any more: a further resume returns at once without a stream.
  expect(await after.transport.reconnectToStream({ chatId: after.chat.id })).toBeNull();
});

test("stop from another chat instance cancels the model call; the message ends cancelled; the sender's chat ends too", async () => {
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

  const laptop = await openChat(stack, "ai-sdk-3", "laptop");
  const log = recordLog(laptop.handle);
  const sent = laptop.chat.sendMessage({ text: "write a long essay" });
  const call = await waitFor(() => calls[0]);
  call.push(delta("Once "), delta("upon "));
  await waitFor(() => textOf(laptop.chat.messages[1]) === "Once upon ");

  // The phone joins the running reply (resume), then presses Stop.
  const phone = await openChat(stack, "ai-sdk-3", "phone", "compact");
  const resumed = phone.chat.resumeStream();
  await waitFor(() => phone.chat.status === "streaming" && textOf(phone.chat.messages.at(-1)) === "Once upon ");
  call.push(delta("a "));
  await waitFor(() => textOf(phone.chat.messages.at(-1)) === "Once upon a ");
  await phone.chat.stop();
  await resumed;

  // The model call is aborted through streamText's abortSignal.
  await waitFor(() => call.signal?.aborted);
  const turn = laptop.chat.messages[0]!.id;
  const end = await waitFor(() => log.find((r) => r.event.type === "turn.end" && r.event.turn === turn));
  expect(end.event.data).toMatchObject({ status: "cancelled" });
  const messageEnd = log.find((r) => r.event.type === "message.end" && r.event.turn === turn);
  expect(messageEnd?.event.data).toEqual({ status: "cancelled" });
  const cancel = log.find((r) => r.event.type === "cancel");
  expect(cancel?.event).toMatchObject({ turn, from: { kind: "user", id: "alice", device: "phone" } });

  // The laptop's chat was streaming the same turn: it ends (abort) with the text it had, status ready.
  await sent;
  expect(laptop.chat.status).toBe("ready");
  expect(textOf(laptop.chat.messages[1])).toBe("Once upon a ");
  expect(phone.chat.status).toBe("ready");
});

test("a reply that delegates to a sub-agent pool streams as one chat message: the sub-turn's text between the parent's", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const textModel = (words: string[]) =>
    new MockLanguageModelV4({
      doStream: async () => ({
        stream: convertArrayToReadableStream<ModelStreamPart>([
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t" },
          ...words.map(delta),
          { type: "text-end", id: "t" },
          { type: "finish", finishReason: { unified: "stop", raw: undefined }, usage },
        ]),
      }),
    });
  const say = (words: string[]) => (abortSignal: AbortSignal) =>
    streamText({ model: textModel(words), prompt: "-", abortSignal });
  const planner = await serveAgent({
    agent: stack.agent,
    name: "planner",
    entry: true,
    handler: async (ctx) => {
      await streamTextToSession(ctx, say(["Asking ", "the ", "flights ", "agent. "]));
      const flights = await ctx.delegate("flights", { text: "Oslo to Rome" });
      await flights.done({ signal: ctx.signal });
      await streamTextToSession(ctx, say(["Booked ", "the ", "first."]));
    },
  });
  onTestFinished(() => planner.stop());
  const flightsPool = await serveAgent({
    agent: stack.agent,
    name: "flights",
    handler: (ctx) => streamTextToSession(ctx, say(["Found ", "3 ", "flights. "])).then(() => {}),
  });
  onTestFinished(() => flightsPool.stop());

  const { chat, log } = await openChat(stack, "ai-sdk-4", "laptop");
  await chat.sendMessage({ text: "Plan a trip" });

  expect(chat.status).toBe("ready");
  expect(chat.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  const reply = chat.messages[1]!;
  expect(reply.parts.filter((p) => p.type === "text").map((p) => p.text)).toEqual([
    "Asking the flights agent. ",
    "Found 3 flights. ",
    "Booked the first.",
  ]);
  // Three messages in the session, one of them written in the delegated sub-turn.
  const starts = log.filter((r) => r.event.type === "message.start");
  expect(starts).toHaveLength(3);
  expect(new Set(starts.map((r) => r.event.turn)).size).toBe(2);
  expect(reply.id).toBe(starts[0]!.event.ref);
});

test("a failing model call ends the message `error` and the turn `failed`; the chat shows the model's error", async () => {
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

  const { chat, log } = await openChat(stack, "ai-sdk-5", "laptop");
  await chat.sendMessage({ text: "hello?" });

  expect(chat.status).toBe("error");
  expect(chat.error?.message).toBe("model overloaded");
  const messageEnd = log.find((r) => r.event.type === "message.end");
  expect(messageEnd?.event.data).toEqual({ status: "error", error: "model overloaded" });
  const turnEnd = log.find((r) => r.event.type === "turn.end");
  expect(turnEnd?.event.data).toMatchObject({ status: "failed", error: "model overloaded" });
});
