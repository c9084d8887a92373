import { applyMessageEvent, emptyMessageState, type SessionEvent } from "@threadline/protocol";
import {
  createUIMessageStream,
  isStepCount,
  jsonSchema,
  readUIMessageStream,
  streamText,
  tool,
  type UIMessage,
  type UIMessageChunk,
} from "ai";
import { convertArrayToReadableStream, convertReadableStreamToArray, MockLanguageModelV4 } from "ai/test";
import { describe, expect, test } from "vitest";
import type { AgentEvent, PublishAck } from "../agent-api.ts";
import { type MessagePublisher, startMessage } from "../message-writer.ts";
import { publishUIMessageStream } from "./ui-message-publisher.ts";

/** A publisher that stores events in memory, in order, like the stream would. */
function memoryPublisher(): MessagePublisher & { events: SessionEvent[] } {
  const events: SessionEvent[] = [];
  return {
    id: "bot",
    kind: "agent",
    events,
    async publish(_session: string, event: AgentEvent): Promise<PublishAck> {
      const id = event.id ?? `e${events.length}`;
      events.push({ ...event, id, from: { kind: "agent", id: "bot" }, ts: 0 });
      return { id, seq: events.length, duplicate: false, epoch: "e" };
    },
  };
}

/** The message the session's events materialize (the protocol's reducer). */
function materialize(events: SessionEvent[]) {
  let state = emptyMessageState();
  events.forEach((event, i) => {
    state = applyMessageEvent(state, { seq: i + 1, event });
  });
  expect(Object.values(state.rejected).every((n) => n === 0)).toBe(true);
  return state.messages[0]!;
}

/** What the AI SDK itself builds from the same chunks. */
async function expected(chunks: UIMessageChunk[]): Promise<UIMessage> {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream: convertArrayToReadableStream(chunks) })) last = message;
  return last!;
}

function withoutState(parts: readonly object[]) {
  return parts.map((p) => {
    const { state, ...rest } = p as { type: string; state?: string };
    return p && (rest.type === "text" || rest.type === "reasoning") ? rest : { ...rest, state };
  });
}

/** One part of a mock model's stream (`LanguageModelV4StreamPart`). */
type ModelStreamPart =
  Awaited<ReturnType<MockLanguageModelV4["doStream"]>>["stream"] extends ReadableStream<infer P> ? P : never;

const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

describe("publishUIMessageStream", () => {
  test("a streamText reply with a tool call and two steps materializes as the AI SDK's own message", async () => {
    let call = 0;
    const model = new MockLanguageModelV4({
      doStream: async () => {
        call++;
        const parts: ModelStreamPart[] =
          call === 1
            ? [
                { type: "stream-start" as const, warnings: [] },
                { type: "reasoning-start" as const, id: "r" },
                { type: "reasoning-delta" as const, id: "r", delta: "need the " },
                { type: "reasoning-delta" as const, id: "r", delta: "weather" },
                { type: "reasoning-end" as const, id: "r" },
                { type: "tool-call" as const, toolCallId: "c1", toolName: "weather", input: '{"city":"Oslo"}' },
                { type: "finish" as const, finishReason: { unified: "tool-calls" as const, raw: undefined }, usage },
              ]
            : [
                { type: "stream-start" as const, warnings: [] },
                { type: "text-start" as const, id: "t" },
                ...["It ", "is ", "4°C ", "in ", "Oslo."].map((delta) => ({
                  type: "text-delta" as const,
                  id: "t",
                  delta,
                })),
                { type: "text-end" as const, id: "t" },
                { type: "finish" as const, finishReason: { unified: "stop" as const, raw: undefined }, usage },
              ];
        return { stream: convertArrayToReadableStream(parts) };
      },
    });
    const weather = tool({
      inputSchema: jsonSchema<{ city: string }>({ type: "object", properties: { city: { type: "string" } } }),
      execute: async ({ city }) => ({ city, celsius: 4 }),
    });
    const result = streamText({ model, prompt: "weather?", tools: { weather }, stopWhen: isStepCount(2) });
    const [mine, theirs] = result.toUIMessageStream().tee();
    const reference = convertReadableStreamToArray(theirs).then(expected);

    const publisher = memoryPublisher();
    const writer = startMessage(publisher, "s1", { id: "m1", turn: "t1", flushMs: 5 });
    const outcome = await publishUIMessageStream(writer, mine);

    expect(outcome.status).toBe("complete");
    const message = materialize(publisher.events);
    expect(message.status).toBe("complete");
    const want = await reference;
    expect(withoutState(message.parts)).toEqual(withoutState(want.parts));
    expect(want.parts.map((p) => p.type)).toEqual(["step-start", "reasoning", "tool-weather", "step-start", "text"]);
    expect(publisher.events.every((e) => e.turn === "t1" && e.ref === "m1")).toBe(true);
  });

  test("an error chunk ends the message `error` with its text; abort ends it `cancelled`", async () => {
    for (const [last, status, error] of [
      [{ type: "error", errorText: "model overloaded" }, "error", "model overloaded"],
      [{ type: "abort" }, "cancelled", undefined],
    ] as const) {
      const publisher = memoryPublisher();
      const writer = startMessage(publisher, "s1", { id: "m1", flushMs: 0 });
      const outcome = await publishUIMessageStream(
        writer,
        convertArrayToReadableStream<UIMessageChunk>([
          { type: "start" },
          { type: "text-start", id: "a" },
          { type: "text-delta", id: "a", delta: "partial" },
          last,
        ]),
      );
      expect(outcome.status).toBe(status);
      const message = materialize(publisher.events);
      expect(message.status).toBe(status);
      expect(message.error).toBe(error);
      expect((message.parts[0] as { text: string }).text).toBe("partial");
    }
  });

  test("a reset-step (a retried step) republishes the parts as message.update: readers get the clean state", async () => {
    const publisher = memoryPublisher();
    const writer = startMessage(publisher, "s1", { id: "m1", flushMs: 0 });
    const stream = createUIMessageStream({
      execute: ({ writer: w }) => {
        w.write({ type: "start-step" });
        w.write({ type: "text-start", id: "a" });
        w.write({ type: "text-delta", id: "a", delta: "garbled" });
        w.write({ type: "reset-step" });
        w.write({ type: "start-step" });
        w.write({ type: "text-start", id: "b" });
        w.write({ type: "text-delta", id: "b", delta: "clean" });
        w.write({ type: "text-end", id: "b" });
      },
    });
    await publishUIMessageStream(writer, stream);
    expect(publisher.events.some((e) => e.type === "message.update")).toBe(true);
    const message = materialize(publisher.events);
    expect(message.parts.map((p) => (p.type === "text" ? p.text : p.type))).toEqual([
      "step-start",
      "step-start",
      "clean",
    ]);
  });
});
