import type { SessionRecord } from "@threadline/protocol";
import { onTestFinished } from "vitest";
import WebSocket from "ws";
import { createClient, type ThreadlineClient } from "../client.ts";
import type { ClientOptions } from "../client-options.ts";
import type { ConnectionStatus } from "../connection-status.ts";
import type { SessionHandle } from "../session-handle.ts";

/**
 * A client wired to a fake gateway with test-friendly timings (fast,
 * jitter-free reconnects, no pings), closed when the test finishes. The
 * `ws` WebSocket is passed without a cast: it satisfies WebSocketConstructorLike.
 * `transport: "websocket"`: the fake gateway speaks the WebSocket protocol only
 * (the HTTP transport is tested against the real gateway, http-transport-*.test.ts).
 */
export function testClient(
  url: string,
  options: Partial<ClientOptions> = {},
): {
  client: ThreadlineClient;
  statuses: ConnectionStatus[];
} {
  const client = createClient({
    url,
    token: "tok",
    device: "dev-1",
    WebSocket,
    transport: "websocket",
    reconnect: { initialDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    pingIntervalMs: 0,
    requestTimeoutMs: 2_000,
    ...options,
  });
  onTestFinished(() => client.close());
  const statuses: ConnectionStatus[] = [];
  client.onStatus((s) => statuses.push(s));
  return { client, statuses };
}

/** Resolves with the first status of `type` (current or future). */
export function statusOf<T extends ConnectionStatus["type"]>(
  client: ThreadlineClient,
  type: T,
): Promise<Extract<ConnectionStatus, { type: T }>> {
  return new Promise((resolve) => {
    const check = (s: ConnectionStatus) => {
      if (s.type !== type) return false;
      off();
      resolve(s as Extract<ConnectionStatus, { type: T }>);
      return true;
    };
    const off = client.onStatus(check);
    check(client.status);
  });
}

/** Seqs of every event the handle applies from now on. */
export function recordSeqs(handle: SessionHandle): number[] {
  const seqs: number[] = [];
  handle.onEvent((r: SessionRecord) => seqs.push(r.seq));
  return seqs;
}

/** Resolves once the handle has applied an event with `seq`. */
export function appliedSeq(handle: SessionHandle, seq: number): Promise<void> {
  return new Promise((resolve) => {
    if ((handle.position?.seq ?? -1) >= seq) {
      resolve();
      return;
    }
    const off = handle.onEvent((r) => {
      if (r.seq >= seq) {
        off();
        resolve();
      }
    });
  });
}

/**
 * Iterates `handle.events()` from now on until the event with `lastSeq`,
 * collecting the seqs; `done` settles once the loop broke (or failed).
 */
export function iterateUntil(handle: SessionHandle, lastSeq: number): { seqs: number[]; done: Promise<void> } {
  const seqs: number[] = [];
  const done = (async () => {
    for await (const record of handle.events()) {
      seqs.push(record.seq);
      if (record.seq === lastSeq) break;
    }
  })();
  return { seqs, done };
}
