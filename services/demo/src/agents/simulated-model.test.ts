import { describe, expect, it } from "vitest";
import { streamTokens, tokenize } from "./simulated-model.ts";

describe("simulated model", () => {
  const text = "The Aurora ANC headphones cost $249,  and   ship today.\\nAsk me anything.";

  it("streams the whole text as word tokens, deterministically", async () => {
    const tokens: string[] = [];
    for await (const t of streamTokens(text, { tokensPerSecond: 10_000 })) tokens.push(t);
    expect(tokens.join("")).toBe(text);
    expect(tokens).toEqual(tokenize(text));
    expect(tokens.length).toBeGreaterThan(5);
  });

  it("paces tokens at the given rate", async () => {
    const started = performance.now();
    let n = 0;
    for await (const _ of streamTokens("a b c d e f g h i j k", { tokensPerSecond: 100 })) n++;
    // 11 tokens at 100/s: the last one is due 100 ms after the first.
    expect(n).toBe(11);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
  });

  it("stops as soon as the signal fires", async () => {
    const abort = new AbortController();
    const tokens: string[] = [];
    for await (const t of streamTokens("one two three four five six", {
      tokensPerSecond: 1000,
      signal: abort.signal,
    })) {
      tokens.push(t);
      if (tokens.length === 2) abort.abort();
    }
    expect(tokens).toEqual(["one ", "two "]);
  });
});
