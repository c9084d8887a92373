/**
 * The demo's offline language model: streams a given reply as word tokens
 * at a steady, realistic pace (default 40 tokens/s), deterministically (the
 * same prompt gives the same tokens in the same order), and stops at once
 * when `signal` fires. Used when no provider API key is configured.
 */
export interface SimulatedModelOptions {
  tokensPerSecond?: number;
  signal?: AbortSignal;
}

/** Splits text into tokens: each word with its trailing whitespace. */
export function tokenize(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

export const DEFAULT_TOKENS_PER_SECOND = Number(process.env.DEMO_TOKENS_PER_SECOND ?? 40);

export async function* streamTokens(text: string, options: SimulatedModelOptions = {}): AsyncGenerator<string> {
  const interval = 1000 / (options.tokensPerSecond ?? DEFAULT_TOKENS_PER_SECOND);
  const started = Date.now();
  let i = 0;
  for (const token of tokenize(text)) {
    if (options.signal?.aborted) return;
    // Paced against the start time, so slow publishes do not slow the whole reply further.
    const due = started + i * interval - Date.now();
    if (due > 0) await delay(due, options.signal);
    if (options.signal?.aborted) return;
    i++;
    yield token;
  }
}

/** Resolves after `ms`, or early when `signal` fires. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
