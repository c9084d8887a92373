import { get } from "node:http";
import { parsePeerEvent, toPeerEvent } from "./peer-events.ts";
import type { OnPeerEvent, PeerReader } from "./peer-system.ts";
import type { ResumeRead } from "./resume.ts";
import { SseStream } from "./sse-stream.ts";
import { wallClockMs } from "./stats.ts";

/** Longest one resume read may take before the bench gives up on it (and fails the run). */
export const READ_TIMEOUT_MS = 60_000;

/**
 * One resume over SSE through a fresh connection: timed from the request to
 * the response's first bytes (`connectMs`) and on until `expected` events
 * arrived (`readMs`). Plain SSE and resumable-stream send no "caught up"
 * marker, so the bench counts events it knows are there. `received` holds
 * each event's position (n + 1), in arrival order.
 */
export async function readSseResume(url: string, expected: number): Promise<ResumeRead> {
  const received: number[] = [];
  let caughtUp: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    caughtUp = resolve;
  });
  if (expected === 0) caughtUp();
  const t0 = wallClockMs();
  const stream = await SseStream.open(url, (_id, data) => {
    received.push(parsePeerEvent(data).n + 1);
    if (received.length === expected) caughtUp();
  });
  const t1 = wallClockMs();
  try {
    await withTimeout(done, () => `${url}: ${received.length} of ${expected} events`);
  } finally {
    stream.close();
  }
  return { connectMs: t1 - t0, readMs: wallClockMs() - t1, received };
}

/**
 * One catch-up read of a Durable Streams JSON stream (`GET <url>`, no live
 * mode: the protocol's catch-up request, answered with one JSON array) through
 * a fresh connection, without `accept-encoding` (no gzip on loopback).
 * `connectMs` until the response headers, `readMs` until the body is parsed.
 */
export function readJsonCatchUp(url: string): Promise<ResumeRead> {
  const t0 = wallClockMs();
  return withTimeout(
    new Promise<ResumeRead>((resolve, reject) => {
      const request = get(url, { agent: false }, (response) => {
        const t1 = wallClockMs();
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`GET ${url}: HTTP ${response.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          try {
            const events = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown[];
            const received = events.map((e) => toPeerEvent(e).n + 1);
            resolve({ connectMs: t1 - t0, readMs: wallClockMs() - t1, received });
          } catch (error) {
            reject(error);
          }
        });
      });
      request.on("socket", (socket) => socket.setNoDelay(true));
      request.on("error", reject);
    }),
    () => `GET ${url}`,
  );
}

/**
 * A live SSE reader: `parse` turns one SSE `data` field into the events it
 * carries (none for control events). Resolves once the server's first bytes
 * arrived (every peer writes them after registering the reader).
 */
export async function openSseReader(
  url: string,
  parse: (data: string) => { n: number; t?: number }[],
  onEvent: OnPeerEvent,
): Promise<PeerReader> {
  const stream = await SseStream.open(url, (_id, data, at) => {
    for (const event of parse(data)) onEvent(event.n + 1, event.t, at);
  });
  return {
    get isOpen() {
      return !stream.closed;
    },
    close: () => stream.close(),
  };
}

function withTimeout<T>(promise: Promise<T>, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${READ_TIMEOUT_MS} ms: ${what()}`)), READ_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
