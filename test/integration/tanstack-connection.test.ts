import type { UIMessage } from "@tanstack/ai";
import { ChatClient } from "@tanstack/ai-client";
import { streamTextToSession } from "@threadline/agent/ai-sdk";
import { threadlineConnection } from "@threadline/client/tanstack";
import { waitFor } from "@threadline/test-kit";
import { isStepCount, jsonSchema, streamText, tool } from "ai";
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

/** A browser tab: its own client, the session attached from the start, a ChatClient hydrated from the session. */
async function openChat(stack: Stack, session: string, device: string, history: "compact" | "full" = "full") {
  const handle = await userTab(stack, device).attach(session, { from: "start", history });
  const connection = threadlineConnection({ session: handle });
  onTestFinished(() => connection.close());
  const chat = new ChatClient({ connection, threadId: session, persistence: true });
  onTestFinished(() => chat.dispose());
  // What a UI wrapper does on mount: hydrate from the session, tail a run in flight.
  chat.attach();
  return { handle, connection, chat };
}

function textOf(message: UIMessage | undefined): string {
  return (message?.parts ?? []).map((p) => (p.type === "text" ? p.content : "")).join("");
}

test("TanStack ChatClient over the connection: streamText reply with a tool call, then hydrated on another device", async () => {
  const stack = await startChatStack();
  const model = stepsModel([
    toolCallStep("weather", { city: "Oslo" }),
    textStep(["It ", "is ", "4 °C ", "in ", "Oslo."]),
  ]);
  const weather = tool({
    inputSchema: jsonSchema<{ city: string }>({ type: "object", properties: { city: { type: "string" } } }),
    execute: async ({ city }) => ({ city, celsius: 4 }),
  });
  await serveChat(stack, async (ctx) => {
    await streamTextToSession(ctx, (abortSignal) =>
      streamText({ model, prompt: ctx.text ?? "", tools: { weather }, stopWhen: isStepCount(2), abortSignal }),
    );
  });

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
  const stack = await startChatStack();
  const { model, calls } = scriptedModel();
  await serveChat(stack, replyWith(model, { flushMs: 5 }));

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
  const stack = await startChatStack();
  const { model, calls } = scriptedModel();
  await serveChat(stack, replyWith(model));

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
  const stack = await startChatStack();
  await serveChat(stack, replyWith(failingModel("model overloaded")));

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
