import { StreamProcessor } from "@tanstack/ai-client";
import type { MessagePart } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { turnView } from "../test-support/turn-view.ts";
import { AguiChunkWriter } from "./agui-chunk-writer.ts";

const tool = (state: string, extra: Record<string, unknown> = {}) =>
  ({ type: "tool-weather", toolCallId: "c1", state, input: { city: "Oslo" }, ...extra }) as MessagePart;

describe("AguiChunkWriter", () => {
  it("TanStack's own StreamProcessor builds the reply from the events: text, thinking, tool call and result", () => {
    const writer = new AguiChunkWriter("s1", "t1");
    const processor = new StreamProcessor();
    const feed = (chunks: ReturnType<AguiChunkWriter["sync"]>) => {
      for (const chunk of chunks) processor.processChunk(chunk);
    };
    // The states a reply goes through, as the session's events build them (synced at arbitrary points).
    feed(writer.sync(turnView([])));
    feed(writer.sync(turnView([{ type: "reasoning", text: "look it " }])));
    feed(writer.sync(turnView([{ type: "reasoning", text: "look it up" }, tool("input-streaming")])));
    feed(writer.sync(turnView([{ type: "reasoning", text: "look it up" }, tool("input-available")])));
    const done = [
      { type: "reasoning", text: "look it up" },
      tool("output-available", { output: { celsius: 4 } }),
      { type: "text", text: "It is 4 °C." },
    ] as MessagePart[];
    feed(writer.sync(turnView([...done.slice(0, 2), { type: "text", text: "It is" }])));
    feed(writer.finish(turnView(done, { status: "completed" })));
    processor.finalizeStream();

    const [reply] = processor.getMessages();
    expect(reply?.id).toBe("m1");
    expect(reply?.role).toBe("assistant");
    const parts = reply?.parts ?? [];
    expect(parts.find((p) => p.type === "thinking")).toMatchObject({ content: "look it up" });
    expect(parts.find((p) => p.type === "tool-call")).toMatchObject({
      id: "c1",
      name: "weather",
      input: { city: "Oslo" },
    });
    expect(parts.find((p) => p.type === "tool-result")).toMatchObject({ toolCallId: "c1", state: "complete" });
    expect(parts.filter((p) => p.type === "text").map((p) => (p.type === "text" ? p.content : ""))).toEqual([
      "It is 4 °C.",
    ]);
  });

  it("frames the run: RUN_STARTED first; RUN_FINISHED, or RUN_ERROR for a failed turn, last; nothing after", () => {
    const ok = new AguiChunkWriter("s1", "t1");
    const chunks = [
      ...ok.sync(turnView([{ type: "text", text: "hi" }])),
      ...ok.finish(turnView([], { status: "completed" })),
    ];
    expect(chunks[0]).toMatchObject({ type: "RUN_STARTED", runId: "t1", threadId: "s1" });
    expect(chunks.at(-1)).toMatchObject({ type: "RUN_FINISHED", runId: "t1", finishReason: "stop" });
    expect(ok.sync(turnView([{ type: "text", text: "hi there" }]))).toEqual([]);

    const failed = new AguiChunkWriter("s1", "t2").finish(
      turnView([], { status: "failed", error: "model overloaded" }),
    );
    expect(failed.at(-1)).toMatchObject({ type: "RUN_ERROR", runId: "t2", message: "model overloaded" });
    const cancelled = new AguiChunkWriter("s1", "t3").finish(turnView([], { status: "cancelled" }));
    expect(cancelled.at(-1)).toMatchObject({
      type: "RUN_FINISHED",
      finishReason: null,
      metadata: { threadline: { status: "cancelled" } },
    });
  });
});
