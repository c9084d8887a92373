/**
 * `Stream-Cursor` for live responses (PROTOCOL.md §21.6, Durable Streams
 * §8.1): the number of 20-second intervals since 2024-10-09T00:00:00Z, so
 * CDNs key long-polls by time. A client cursor at or past the current
 * interval gets a strictly greater one (1–3600 s of jitter), so a cached empty
 * answer can never loop.
 */
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
export const CURSOR_INTERVAL_SECONDS = 20;

export function responseCursor(
  clientCursor: string | undefined,
  now: number = Date.now(),
  random: () => number = Math.random,
): string {
  const current = Math.floor((now - CURSOR_EPOCH_MS) / 1000 / CURSOR_INTERVAL_SECONDS);
  const client = clientCursor !== undefined && /^\d{1,15}$/.test(clientCursor) ? Number(clientCursor) : undefined;
  if (client === undefined || client < current) return String(current);
  const jitterSeconds = 1 + Math.floor(random() * 3600);
  return String(client + Math.max(1, Math.ceil(jitterSeconds / CURSOR_INTERVAL_SECONDS)));
}
