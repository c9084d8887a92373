import type { AttachFrom, AttachHistory } from "@threadline/protocol";
import type { ConnectionStatus } from "./connection-status.ts";
import type { ThreadlineNotifications } from "./notifications.ts";
import type { SessionHandle } from "./session-handle-api.ts";

/**
 * A connection to a Threadline gateway carrying any number of sessions over
 * one WebSocket — or over HTTP where WebSockets are blocked (`transport`,
 * PROTOCOL.md §21.10). Connects lazily on the first `attach()`, reconnects
 * with backoff after retryable closes, and resumes every session from its
 * exact position on whichever transport it uses. `await using client = createClient(…)` closes it on scope exit.
 */
export interface ThreadlineClient extends AsyncDisposable {
  readonly status: ConnectionStatus;
  /**
   * Web Push subscriptions and notification preferences of the token's user,
   * over the gateway's HTTP API (PROTOCOL.md §20). Independent of the socket:
   * usable before any `attach()`.
   */
  readonly notifications: ThreadlineNotifications;
  /** Calls `cb` on every status change. Returns an unsubscribe function. */
  onStatus(cb: (status: ConnectionStatus) => void): () => void;
  /** The current status, then every change (unread statuses beyond 64 drop the oldest); ends after `closed`. */
  statuses(): AsyncIterable<ConnectionStatus>;
  /**
   * Attaches a session; resolves once the gateway confirmed (`attached`) and
   * the shared state snapshot it asked for is applied (PROTOCOL.md §19.5), so
   * register `onEvent`/`events()` right after the `await` to see the replay,
   * and `state(name).get()` is current.
   * `from` defaults to the position in `storage`, else the device cursor
   * (`"cursor"`). Waits while the client is (re)connecting. Rejects with the
   * gateway's error (`FORBIDDEN`, `INSUFFICIENT_STATE`, `TOO_MANY_SESSIONS`, …),
   * with `INVALID_FRAME` if this client already has a live handle for the
   * session, or `CLOSED` if the client closes first.
   * @example
   *   const chat = await client.attach("s-42", { from: "start" });
   *   for await (const { seq, event } of chat.events()) render(seq, event);
   */
  attach(session: string, opts?: AttachOptions): Promise<SessionHandle>;
  /**
   * Closes the socket (code 1000) for good: flushes acks and stored positions,
   * ends every handle's iterators, rejects pending attaches and publishes with
   * `CLOSED`. Idempotent.
   */
  close(): Promise<void>;
}

export interface AttachOptions {
  from?: AttachFrom;
  /**
   * How a catch-up is delivered (PROTOCOL.md §8.5): `"full"` (default, on
   * every platform) gets every stored event; `"compact"` gets each completed
   * message as one `message.snapshot` event instead of its deltas (same
   * `messages` view, far fewer bytes — pass it for chat UIs that replay long
   * histories). `onEvent` / `events()` see the snapshots instead of the deltas.
   * @example await client.attach("s-42", { from: "start", history: "compact" });
   */
  history?: AttachHistory;
  /** Ack the cursor automatically as events are applied (coalesced to ≤ 4/s per session, and on detach). Default true. */
  autoAck?: boolean;
}
