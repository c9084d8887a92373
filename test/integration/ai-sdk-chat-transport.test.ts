import { sessionUIMessages, streamTextToSession } from "@threadline/agent/ai-sdk";
import { ThreadlineChatTransport } from "@threadline/client/ai-sdk";
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
import type { MockLanguageModelV4 } from "ai/test";
import { expect, onTestFinished, test } from "vitest";
import {
  delta,
  failingModel,
  recordLog,
  replyWith,
  scriptedModel,
  serveChat,
  startChatStack,
  stepsModel,
  textStep,
  toolCallStep,
  userTab,
} from "./support/chat-stack.ts";
import type { Stack } from "./support/stack.ts";

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

/** Attaches from the start and creates the transport in the same tick, as the transport requires. */
async function openChat(stack: Stack, session: string, device: string, history: "compact" | "full" = "full") {
  const handle = await userTab(stack, device).attach(session, { from: "start", history });
  const transport = new ThreadlineChatTransport({ session: handle });
  onTestFinished(() => transport.close());
  const log = recordLog(handle);
  await handle.whenSynced();
  const chat = new TestChat({ transport, messages: transport.messages() });
  return { handle, transport, chat, log };
}

function textOf(message: UIMessage | undefined): string {
  return (message?.parts ?? []).map((p) => (p.type === "text" ? p.text : "")).join("");
}

test("agent streamText -> session -> ChatTransport -> AbstractChat: the chat's reply equals the model's output", async () => {
  const stack = await startChatStack();
  // Step 1 calls a server-side tool (reasoning first), step 2 answers with text.
  const steps = [
    toolCallStep("weather", { city: "Oslo" }, [
      { type: "reasoning-start", id: "r" },
      { type: "reasoning-delta", id: "r", delta: "look it up" },
      { type: "reasoning-end", id: "r" },
    ]),
    textStep(["It ", "is ", "4 °C ", "in ", "Oslo ", "— ", "bring ", "a ", "coat."]),
  ];
  const weather = tool({
    inputSchema: jsonSchema<{ city: string }>({ type: "object", properties: { city: { type: "string" } } }),
    execute: async ({ city }) => ({ city, celsius: 4 }),
  });
  const models: MockLanguageModelV4[] = [];
  const run = (messages: ModelMessage[], abortSignal?: AbortSignal) => {
    const model = stepsModel(steps);
    models.push(model);
    return streamText({ model, messages, tools: { weather }, stopWhen: isStepCount(2), abortSignal });
  };

  await serveChat(stack, async (ctx) => {
    // The conversation comes from the session, not from the request.
    const messages = await convertToModelMessages(await sessionUIMessages(ctx));
    await streamTextToSession(ctx, (signal) => run(messages, signal));
  });

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
  const stack = await startChatStack();
  const { model, calls } = scriptedModel();
  await serveChat(stack, replyWith(model, { flushMs: 5 }));

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
  const stack = await startChatStack();
  const { model, calls } = scriptedModel();
  await serveChat(stack, replyWith(model));

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
  const stack = await startChatStack();
  const say = (words: string[]) => (abortSignal: AbortSignal) =>
    streamText({ model: stepsModel([textStep(words)]), prompt: "-", abortSignal });
  await serveChat(
    stack,
    async (ctx) => {
      await streamTextToSession(ctx, say(["Asking ", "the ", "flights ", "agent. "]));
      const flights = await ctx.delegate("flights", { text: "Oslo to Rome" });
      await flights.done({ signal: ctx.signal });
      await streamTextToSession(ctx, say(["Booked ", "the ", "first."]));
    },
    { name: "planner" },
  );
  await serveChat(stack, (ctx) => streamTextToSession(ctx, say(["Found ", "3 ", "flights. "])).then(() => {}), {
    name: "flights",
    entry: false,
  });

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
  const stack = await startChatStack();
  await serveChat(stack, replyWith(failingModel("model overloaded")));

  const { chat, log } = await openChat(stack, "ai-sdk-5", "laptop");
  await chat.sendMessage({ text: "hello?" });

  expect(chat.status).toBe("error");
  expect(chat.error?.message).toBe("model overloaded");
  const messageEnd = log.find((r) => r.event.type === "message.end");
  expect(messageEnd?.event.data).toEqual({ status: "error", error: "model overloaded" });
  const turnEnd = log.find((r) => r.event.type === "turn.end");
  expect(turnEnd?.event.data).toMatchObject({ status: "failed", error: "model overloaded" });
});
