import { type AgentServer, serveAgent, type TurnHandler } from "@threadline/agent";
import { type StreamTextToSessionOptions, streamTextToSession } from "@threadline/agent/ai-sdk";
import { createClient, type SessionHandle, type ThreadlineClient } from "@threadline/client";
import type { SessionRecord } from "@threadline/protocol";
import { streamText } from "ai";
import { convertArrayToReadableStream, MockLanguageModelV4 } from "ai/test";
import { onTestFinished } from "vitest";
import WebSocket from "ws";
import { type Stack, startStack } from "./stack.ts";

/**
 * What the chat-UI adapter tests (AI SDK ChatTransport, TanStack connection)
 * share: a stack with a `chat` entry pool, browser tabs of one user, and mock
 * models whose output the test scripts. Everything is torn down at test end.
 */

/** A stack (nats-server, gateway, agent connection) stopped when the test finishes. */
export async function startChatStack(): Promise<Stack> {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  return stack;
}

/** Serves `handler` as a worker pool (`chat` unless named; the session's entry pool unless `entry: false`). */
export async function serveChat(
  stack: Stack,
  handler: TurnHandler,
  options: { name?: string; entry?: boolean } = {},
): Promise<AgentServer> {
  const server = await serveAgent({
    agent: stack.agent,
    name: options.name ?? "chat",
    entry: options.entry ?? true,
    handler,
  });
  onTestFinished(() => server.stop());
  return server;
}

/**
 * A turn handler streaming `model`'s answer to the turn's input text into the
 * session. Model errors are not logged: tests assert them in the session
 * (`message.end`, `turn.end`) and in the chat.
 */
export function replyWith(model: MockLanguageModelV4, options?: StreamTextToSessionOptions): TurnHandler {
  return async (ctx) => {
    await streamTextToSession(
      ctx,
      (abortSignal) => streamText({ model, prompt: ctx.text ?? "", abortSignal, onError: () => {} }),
      options,
    );
  };
}

/** A browser tab of user `alice` on `device`: its own client, reconnecting fast. */
export function userTab(stack: Stack, device: string): ThreadlineClient {
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

/** Every record the handle delivers from now on, in order. */
export function recordLog(handle: SessionHandle): SessionRecord[] {
  const records: SessionRecord[] = [];
  handle.onEvent((r) => records.push(r));
  return records;
}

/** One part of a mock model's stream (`LanguageModelV4StreamPart`). */
export type ModelStreamPart =
  Awaited<ReturnType<MockLanguageModelV4["doStream"]>>["stream"] extends ReadableStream<infer P> ? P : never;

export const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

export const delta = (text: string): ModelStreamPart => ({ type: "text-delta", id: "t", delta: text });

/** A model step that answers `words` as one text part and stops. */
export function textStep(words: string[]): ModelStreamPart[] {
  return [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id: "t" },
    ...words.map(delta),
    { type: "text-end", id: "t" },
    { type: "finish", finishReason: { unified: "stop", raw: undefined }, usage },
  ];
}

/** A model step that calls tool `name` with `input` (after `before`, e.g. reasoning parts). */
export function toolCallStep(name: string, input: unknown, before: ModelStreamPart[] = []): ModelStreamPart[] {
  return [
    { type: "stream-start", warnings: [] },
    ...before,
    { type: "tool-call", toolCallId: "call-1", toolName: name, input: JSON.stringify(input) },
    { type: "finish", finishReason: { unified: "tool-calls", raw: undefined }, usage },
  ];
}

/** A mock model whose n-th call streams `steps[n]` (an empty stream after the last). */
export function stepsModel(steps: ModelStreamPart[][]): MockLanguageModelV4 {
  let call = 0;
  return new MockLanguageModelV4({
    doStream: async () => ({ stream: convertArrayToReadableStream(steps[call++] ?? []) }),
  });
}

/** A mock model whose every call fails with `message` (an overloaded provider). */
export function failingModel(message: string): MockLanguageModelV4 {
  return new MockLanguageModelV4({
    doStream: async () => {
      throw new Error(message);
    },
  });
}

/** A model call the test drives token by token; `signal` is the abortSignal streamText passed to the model. */
export interface ScriptedCall {
  signal: AbortSignal | undefined;
  push(...parts: ModelStreamPart[]): void;
  /** Ends the text part and the step (`stop`). */
  finish(): void;
}

/** A mock model whose streams the test writes (one text part per call); an aborted call errors its stream like a cancelled fetch. */
export function scriptedModel(): { model: MockLanguageModelV4; calls: ScriptedCall[] } {
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
