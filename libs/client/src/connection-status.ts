import type { ThreadlineError } from "@threadline/protocol";
import { AsyncQueue } from "./async-queue.ts";
import { notifyAll } from "./report-error.ts";
import type { Transport } from "./transport-choice.ts";

/**
 * The client's connection state.
 * - `idle`: created, nothing attached yet (the client connects lazily on the first `attach`).
 * - `connecting`: opening a socket and waiting for `welcome`. `attempt` is 0 for the first
 *   connection and the reconnect attempt number (1, 2, …) afterwards.
 * - `connected`: `welcome` received; sessions are (re-)attached. `transport` says what carries
 *   them: `"websocket"`, or `"http"` (PROTOCOL.md §21.10; with `transport: "auto"` after a fallback).
 * - `reconnecting`: the socket is gone; attempt number `attempt` starts in `delayMs`.
 *   `error` says why the previous socket or attempt failed.
 * - `closed`: final. `close()` was called (code 1000), the gateway closed with a terminal
 *   code, or reconnecting gave up. A closed client cannot be reopened; create a new one.
 */
export type ConnectionStatus =
  | { type: "idle" }
  | { type: "connecting"; attempt: number }
  | { type: "connected"; connection: string; user: string; device: string; transport: Transport }
  | { type: "reconnecting"; attempt: number; delayMs: number; error?: ThreadlineError }
  | { type: "closed"; code?: number; reason?: string; error?: ThreadlineError };

/** Status iterators keep at most this many unread statuses, dropping the oldest (only the latest matters). */
const STATUS_BUFFER = 64;

/** Holds the current status and fans changes out to callbacks and async iterators. */
export class StatusFeed {
  private current: ConnectionStatus = { type: "idle" };
  private readonly listeners = new Set<(status: ConnectionStatus) => void>();
  private readonly iterators = new Set<AsyncQueue<ConnectionStatus>>();

  get status(): ConnectionStatus {
    return this.current;
  }

  set(status: ConnectionStatus): void {
    if (this.current.type === "closed") return;
    this.current = status;
    notifyAll(this.listeners, status);
    for (const iterator of [...this.iterators]) {
      iterator.push(status);
      if (status.type === "closed") iterator.end();
    }
  }

  subscribe(listener: (status: ConnectionStatus) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The current status, then every change; ends after `closed`. */
  iterate(): AsyncIterable<ConnectionStatus> {
    const queue = new AsyncQueue<ConnectionStatus>({
      highWaterMark: STATUS_BUFFER,
      overflow: "drop-oldest",
      onClose: () => this.iterators.delete(queue),
    });
    queue.push(this.current);
    if (this.current.type === "closed") queue.end();
    else this.iterators.add(queue);
    return queue;
  }
}
