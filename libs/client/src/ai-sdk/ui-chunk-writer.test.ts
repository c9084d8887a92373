import type { MessagePart } from "@threadline/protocol";
import { readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { turnView } from "../test-support/turn-view.ts";
import type { TurnView } from "./turn-tracker.ts";
import { UIChunkWriter } from "./ui-chunk-writer.ts";

/** What AbstractChat builds from the chunks (the AI SDK's own reader). */
async function read(chunks: UIMessageChunk[]): Promise<UIMessage | undefined> {
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream, terminateOnError: true })) last = message;
  return last;
}

/** Parts compared without the streaming `state` of text-like parts and undefined fields. */
function comparable(parts: readonly object[]): unknown[] {
  return JSON.parse(
    JSON.stringify(
      parts.map((p) => {
        const { state, ...rest } = p as { type: string; state?: string };
        return rest.type === "text" || rest.type === "reasoning" ? rest : { ...rest, state };
      }),
    ),
  );
}

/** One change an agent can make to the parts of a message being written. */
type Op =
  | { kind: "text"; text: string }
  | { kind: "reasoning"; text: string }
  | { kind: "tool"; id: number }
  | { kind: "tool-output"; id: number }
  | { kind: "data"; id: number; value: number }
  | { kind: "step" }
  | { kind: "rewrite"; text: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("text" as const), text: fc.string({ minLength: 1, maxLength: 6 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reasoning" as const), text: fc.string({ minLength: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tool" as const), id: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tool-output" as const), id: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("data" as const), id: fc.nat(2), value: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("step" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rewrite" as const), text: fc.string({ minLength: 1 }) }) },
);

/** Applies `o` to `parts` as the agent-side message writer would (append, set part, update). */
function applyOp(parts: MessagePart[], o: Op): MessagePart[] {
  const next = parts.slice();
  const last = next.at(-1);
  const stepStart = next.map((p) => p.type).lastIndexOf("step-start");
  switch (o.kind) {
    case "text":
    case "reasoning":
      if (last?.type === o.kind) next[next.length - 1] = { ...last, text: last.text + o.text };
      // Reasoning parts carry the model's id, as the agent-side adapter publishes them.
      else
        next.push(
          o.kind === "text"
            ? { type: "text", text: o.text }
            : ({ type: "reasoning", text: o.text, id: `r${next.length}` } as MessagePart),
        );
      return next;
    case "tool": {
      const toolCallId = `c${o.id}`;
      if (next.some((p) => p.type === "tool-lookup" && p.toolCallId === toolCallId)) return next;
      next.push({ type: "tool-lookup", toolCallId, state: "input-available", input: { q: o.id } });
      return next;
    }
    case "tool-output": {
      const i = next.findIndex((p) => p.type === "tool-lookup" && p.toolCallId === `c${o.id}`);
      const part = next[i];
      if (part?.type !== "tool-lookup" || part.state !== "input-available") return next;
      next[i] = { ...part, state: "output-available", output: { answer: o.id * 2 } };
      return next;
    }
    case "data": {
      const i = next.findIndex((p) => p.type === "data-progress" && "id" in p && p.id === `d${o.id}`);
      const part = { type: "data-progress" as const, id: `d${o.id}`, data: { value: o.value } };
      if (i >= 0) next[i] = part;
      else next.push(part);
      return next;
    }
    case "step":
      next.push({ type: "step-start" });
      return next;
    case "rewrite": {
      // A message.update that rewrites a text of the current step (a retried step): not an append.
      const i = next.findIndex((p, j) => j > stepStart && p.type === "text");
      if (i < 0) return next;
      next[i] = { type: "text", text: `~${o.text}` };
      return next;
    }
  }
}

describe("UIChunkWriter", () => {
  it("property: the chunks for any sequence of part changes rebuild, in the AI SDK's reader, the parts of the view", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        async (ops, syncs) => {
          const writer = new UIChunkWriter();
          const chunks: UIMessageChunk[] = [];
          let parts: MessagePart[] = [];
          ops.forEach((o, i) => {
            parts = applyOp(parts, o);
            // Events are not always seen one by one (batched deltas, a reconnect's replay): sync at random points.
            if (syncs[i]) chunks.push(...writer.sync(turnView(parts)));
          });
          chunks.push(...writer.finish(turnView(parts, { status: "completed" })));
          const message = await read(chunks);
          // The AI SDK shows a trailing step-start only after a later update (start-step alone writes none).
          const trimmed = (list: readonly object[]) => {
            const out = list.slice();
            while ((out.at(-1) as { type?: string } | undefined)?.type === "step-start") out.pop();
            return comparable(out);
          };
          expect(trimmed(message?.parts ?? [])).toEqual(trimmed(parts));
          expect(message?.id).toBe("m1");
          expect(chunks.at(-1)).toEqual({ type: "finish" });
        },
      ),
      { numRuns: 300 },
    );
  });

  // Regression (property seed -322481254): a rewrite in the current step arriving with the output of a call
  // made before the step's start sent nothing at all, so the chat kept both the old text and the call's input.
  it("a rewrite of the current step beside an earlier step's tool output: both reach the chat", async () => {
    const writer = new UIChunkWriter();
    const call = { type: "tool-lookup", toolCallId: "c0", input: { q: 0 } } as const;
    const before: MessagePart[] = [
      { ...call, state: "input-available" },
      { type: "step-start" },
      { type: "text", text: "draft" },
    ];
    const after: MessagePart[] = [
      { ...call, state: "output-available", output: { answer: 0 } },
      { type: "step-start" },
      { type: "text", text: "final" },
    ];
    const chunks = [...writer.sync(turnView(before)), ...writer.finish(turnView(after, { status: "completed" }))];
    expect(comparable((await read(chunks))?.parts ?? [])).toEqual(comparable(after));
  });

  it("a rewrite of an earlier text in the current step is sent as reset-step and the step again", () => {
    const writer = new UIChunkWriter();
    writer.sync(turnView([{ type: "step-start" }, { type: "text", text: "garbled" }]));
    const chunks = writer.sync(turnView([{ type: "step-start" }, { type: "text", text: "clean" }]));
    expect(chunks.map((c) => c.type)).toEqual(["reset-step", "text-start", "text-delta"]);
  });

  it("ends with the turn's outcome: cancelled -> abort, failed -> error, interrupted -> finish(interrupted)", () => {
    const end = (outcome: TurnView["outcome"]) =>
      new UIChunkWriter().finish(turnView([{ type: "text", text: "hi" }], outcome)).slice(-2);
    expect(end({ status: "cancelled", reason: "stopped" })).toEqual([
      { type: "text-end", id: "p0" },
      { type: "abort", reason: "stopped" },
    ]);
    expect(end({ status: "failed", error: "model overloaded" }).at(-1)).toEqual({
      type: "error",
      errorText: "model overloaded",
    });
    expect(end({ status: "interrupted" }).at(-1)).toEqual({ type: "finish", finishReason: "interrupted" });
  });
});
