import type { LiveMessage } from "../live-source.ts";
import { RecentEvents } from "../recent-events.ts";

/** A started recent-events cache (stream epoch "e1", watching from seq 0) and the firehose's two calls into it. */
export interface TestCache {
  recent: RecentEvents;
  /** The firehose delivering `m` (to the cache only). */
  tap(m: LiveMessage): void;
  /** The firehose reporting lost history, restarting after `after`. */
  reset(after: number): void;
}

/** Starts a cache of `maxBytes` over a stand-in firehose, with `messages` already delivered to it. */
export async function startedCache(maxBytes: number, messages: readonly LiveMessage[] = []): Promise<TestCache> {
  let listener: { onMessage(m: LiveMessage): void; onReset(after: number): void } | undefined;
  const recent = new RecentEvents(maxBytes);
  await recent.start(
    {
      async tap(l) {
        listener = l;
        return { after: 0 };
      },
    },
    "e1",
  );
  const cache = { recent, tap: (m: LiveMessage) => listener!.onMessage(m), reset: (a: number) => listener!.onReset(a) };
  for (const m of messages) cache.tap(m);
  return cache;
}
