import type { StreamChunk, UIMessage as TanStackMessage } from "@tanstack/ai";
import type { RunAgentInputContext, SubscribeConnectionAdapter } from "@tanstack/ai-client";
import { ErrorCode, type JsonValue, type Message, ThreadlineError } from "@threadline/protocol";
import { TurnTracker, userMessagesOnly } from "../ai-sdk/turn-tracker.ts";
import { AsyncQueue } from "../async-queue.ts";
import type { SessionHandle } from "../session-handle.ts";
import type { StateHandle } from "../state-handle.ts";
import { AguiChunkWriter } from "./agui-chunk-writer.ts";

type ChatHydrationResult = Awaited<ReturnType<NonNullable<SubscribeConnectionAdapter["hydrate"]>>>;

/** AG-UI events buffered for a slow `subscribe()` reader; past it the subscription fails with `SLOW_CONSUMER`. */
export const MAX_BUFFERED_CHUNKS = 10_000;

export interface ThreadlineConnectionOptions {
  /**
   * The attached session (`client.attach(id, { from: "start" })`), or the
   * promise of it. Create the connection right after the attach resolves: it
   * follows the session's events from then on, and can only resume a run
   * whose start it saw.
   */
  session: SessionHandle | Promise<SessionHandle>;
  /**
   * Publish `cancel` for the run when its stream is aborted (`chat.stop()`).
   * Default true. TanStack's `ChatClient.detach()` (a UI wrapper unmounting
   * its view) aborts the local stream too: pass false to leave runs going on
   * unmount, and stop them with {@link ThreadlineConnection.cancel}.
   */
  cancelOnAbort?: boolean;
  /** `reason` of the `cancel` event. Default `"stopped by the user"`. */
  cancelReason?: string;
  /** Reports a failed `cancel` publish. Default: `console.error`. */
  onError?: (error: unknown) => void;
}

/** The TanStack AI connection over a Threadline session, plus explicit control. */
export interface ThreadlineConnection extends Required<Pick<SubscribeConnectionAdapter, "joinRun" | "hydrate">> {
  subscribe: SubscribeConnectionAdapter["subscribe"];
  send: SubscribeConnectionAdapter["send"];
  /** Publishes `cancel` for `runId` (default: the run this connection sent last, while it runs). */
  cancel(runId?: string): Promise<void>;
  /** Stops following the session and ends open streams; later aborts publish nothing. Idempotent. */
  close(): void;
  /**
   * Shared state object `name` of the session (PROTOCOL.md §19), once the
   * session handle is known: `session.state(name)`.
   * @example (await connection.state("cart")).subscribe(({ value }) => renderCart(value));
   */
  state<T extends JsonValue = JsonValue>(name: string): Promise<StateHandle<T>>;
}

/**
 * A TanStack AI `ConnectionAdapter` (the subscribe/send form) over a
 * Threadline session, with server-authoritative hydration: use it with
 * `persistence: true` and the session id as `threadId`, and a reload, another
 * tab or another device shows the conversation and tails a reply still being
 * written.
 *
 * - `send` publishes the last user message as an `input` event whose id is the
 *   turn id (the chat's run id when token-shaped); the turn's reply arrives on
 *   `subscribe()` as AG-UI events of that run (see {@link AguiChunkWriter}).
 * - `hydrate` resolves, once the session replay reached live, with the
 *   session's messages as TanStack messages and the run still in flight.
 * - `joinRun` replays that run from its start, then live, until it ends.
 * - Aborting the send or join signal (`chat.stop()`) publishes `cancel` for the
 *   run (see `cancelOnAbort`); the agent ends its messages `cancelled` and every
 *   other chat following the run gets `RUN_FINISHED`.
 * @example
 *   const session = await client.attach("s-42", { from: "start" });
 *   const chat = new ChatClient({ connection: threadlineConnection({ session }), threadId: "s-42", persistence: true });
 */
export function threadlineConnection(options: ThreadlineConnectionOptions): ThreadlineConnection {
  return new Connection(options);
}

class Connection implements ThreadlineConnection {
  private readonly tracker: Promise<TurnTracker>;
  private trackerValue: TurnTracker | undefined;
  private readonly queues = new Set<AsyncQueue<StreamChunk>>();
  private readonly stops = new Set<() => void>();
  private closed = false;
  private lastRun: string | undefined;

  constructor(private readonly options: ThreadlineConnectionOptions) {
    const { session } = options;
    const track = (s: SessionHandle) => {
      const tracker = new TurnTracker(s);
      this.trackerValue = tracker;
      if (this.closed) tracker.close();
      return tracker;
    };
    this.tracker = "then" in session ? session.then(track) : Promise.resolve(track(session));
    this.tracker.catch(() => {});
  }

  state = async <T extends JsonValue = JsonValue>(name: string): Promise<StateHandle<T>> =>
    (await this.tracker).session.state<T>(name);

  subscribe = (signal?: AbortSignal): AsyncIterable<StreamChunk> => {
    const queue: AsyncQueue<StreamChunk> = new AsyncQueue<StreamChunk>({
      highWaterMark: MAX_BUFFERED_CHUNKS,
      overflow: "fail",
      overflowError: () =>
        new ThreadlineError(ErrorCode.SLOW_CONSUMER, `subscribe() reader fell ${MAX_BUFFERED_CHUNKS} chunks behind`),
      onClose: () => this.queues.delete(queue),
    });
    if (this.closed) queue.end();
    else this.queues.add(queue);
    signal?.addEventListener("abort", () => queue.end(), { once: true });
    return queue;
  };

  send = async (
    messages: Parameters<SubscribeConnectionAdapter["send"]>[0],
    _data?: Record<string, unknown>,
    signal?: AbortSignal,
    runContext?: RunAgentInputContext,
  ): Promise<void> => {
    const tracker = await this.tracker;
    const last = messages.at(-1);
    // A continuation after a client tool result or approval: Threadline has its own events for those.
    if (last?.role !== "user") throw userMessagesOnly("threadlineConnection", tracker.session.id);
    const turn = tracker.startTurn(runContext?.runId);
    this.lastRun = turn;
    const threadId = runContext?.threadId || tracker.session.id;
    // Chunks of the run go to every subscription; the feed is set up before the input is stored.
    const stop = this.feed(
      tracker,
      turn,
      threadId,
      signal,
      false,
      (chunk) => {
        for (const queue of this.queues) queue.push(chunk);
      },
      (error) => {
        if (this.lastRun === turn) this.lastRun = undefined;
        if (error) for (const queue of [...this.queues]) queue.fail(error);
      },
    );
    try {
      await tracker.session.publish({ id: turn, type: "input", data: inputData(last) });
    } catch (error) {
      stop();
      throw error;
    }
  };

  joinRun = (runId: string, signal?: AbortSignal): AsyncIterable<StreamChunk> => {
    const queue = new AsyncQueue<StreamChunk>({
      highWaterMark: MAX_BUFFERED_CHUNKS,
      overflow: "fail",
      overflowError: () =>
        new ThreadlineError(ErrorCode.SLOW_CONSUMER, `joinRun() reader fell ${MAX_BUFFERED_CHUNKS} chunks behind`),
      onClose: () => stop?.(),
    });
    let stop: (() => void) | undefined;
    this.tracker.then(
      (tracker) => {
        if (!queue.open) return;
        stop = this.feed(
          tracker,
          tracker.rootOf(runId),
          tracker.session.id,
          signal,
          true,
          (chunk) => queue.push(chunk),
          (error) => (error ? queue.fail(error) : queue.end()),
        );
      },
      (error: unknown) => queue.fail(error),
    );
    return queue;
  };

  hydrate = async (): Promise<ChatHydrationResult> => {
    const tracker = await this.tracker;
    await tracker.session.whenSynced();
    const inFlight = tracker.inFlight();
    return {
      messages: toTanStackMessages(tracker),
      activeRun: inFlight === undefined ? null : { runId: inFlight },
      // Threadline's client tool calls and approvals are their own events (PROTOCOL.md §17), not AG-UI interrupts.
      interrupts: null,
    };
  };

  async cancel(runId?: string): Promise<void> {
    const turn = runId ?? this.lastRun;
    if (turn === undefined) return;
    const tracker = await this.tracker;
    await tracker.session.publish({
      type: "cancel",
      turn: tracker.rootOf(turn),
      data: { reason: this.options.cancelReason ?? "stopped by the user" },
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.stops]) stop();
    for (const queue of [...this.queues]) queue.end();
    this.trackerValue?.close();
  }

  /**
   * Feeds the AG-UI events of root turn `turn` to `emit` until the turn ends
   * (`onEnd`), `signal` aborts (then `cancel`, see `cancelOnAbort`) or the
   * connection closes. Returns a function that stops feeding without cancelling.
   */
  private feed(
    tracker: TurnTracker,
    turn: string,
    threadId: string,
    signal: AbortSignal | undefined,
    replay: boolean,
    emit: (chunk: StreamChunk) => void,
    onEnd?: (error?: ThreadlineError) => void,
  ): () => void {
    const writer = new AguiChunkWriter(threadId, turn);
    let done = false;
    const stop = (error?: ThreadlineError) => {
      if (done) return;
      done = true;
      unsubscribe();
      unsubscribeFailure();
      this.stops.delete(stop);
      signal?.removeEventListener("abort", onAbort);
      onEnd?.(error);
    };
    const push = () => {
      if (done) return;
      const view = tracker.view(turn);
      for (const chunk of view.outcome ? writer.finish(view) : writer.sync(view)) emit(chunk);
      if (view.outcome) stop();
    };
    const onAbort = () => {
      if (done) return;
      stop();
      if (this.closed || this.options.cancelOnAbort === false) return;
      this.cancel(turn).catch((error: unknown) => (this.options.onError ?? console.error)(error));
    };
    const unsubscribe = tracker.onChange(turn, push);
    // The handle ended for good (FORBIDDEN, INSUFFICIENT_STATE…): readers get the error.
    const unsubscribeFailure = tracker.onFailure((error) => stop(error));
    this.stops.add(stop);
    if (signal?.aborted) onAbort();
    else {
      signal?.addEventListener("abort", onAbort, { once: true });
      if (replay) push();
    }
    return stop;
  }
}

/**
 * The `input` data for a TanStack user message (a UI message with `parts`, or
 * a model message with `content` as a string or parts): its text parts
 * joined, as `text` and as one text part.
 */
function inputData(message: { parts?: readonly unknown[]; content?: unknown }): Record<string, unknown> {
  const content = message.content;
  const parts = (message.parts ?? (Array.isArray(content) ? content : [])) as { type?: string; content?: unknown }[];
  let text = parts
    .filter((p) => p.type === "text" && typeof p.content === "string")
    .map((p) => p.content as string)
    .join("");
  if (text === "" && typeof content === "string") text = content;
  return { text, parts: [{ type: "text", text }] };
}

/**
 * The session's messages as TanStack messages (text, reasoning as thinking,
 * tool calls with their results); a turn's assistant messages are one message,
 * as its run streams them.
 */
function toTanStackMessages(tracker: TurnTracker): TanStackMessage[] {
  const byRoot = new Map<string, TanStackMessage>();
  const out: TanStackMessage[] = [];
  for (const message of tracker.messages) {
    const root = message.role === "assistant" && message.turn !== undefined ? tracker.rootOf(message.turn) : undefined;
    const parts = tanStackParts(message);
    const merged = root === undefined ? undefined : byRoot.get(root);
    if (merged) {
      merged.parts.push(...parts);
      continue;
    }
    const ui: TanStackMessage = { id: message.id, role: message.role, parts };
    if (root !== undefined) byRoot.set(root, ui);
    out.push(ui);
  }
  return out;
}

function tanStackParts(message: Message): TanStackMessage["parts"] {
  const parts: TanStackMessage["parts"] = [];
  for (const part of message.parts as readonly ({ type: string } & Record<string, unknown>)[]) {
    if (part.type === "text") parts.push({ type: "text", content: String(part.text) });
    else if (part.type === "reasoning") parts.push({ type: "thinking", content: String(part.text) });
    else if (part.type === "dynamic-tool" || part.type.startsWith("tool-")) {
      const id = String(part.toolCallId);
      const name = part.type === "dynamic-tool" ? String(part.toolName) : part.type.slice("tool-".length);
      const state = String(part.state);
      const complete = state === "output-available" || state === "output-error" || state === "output-denied";
      parts.push({
        type: "tool-call",
        id,
        name,
        arguments: part.input === undefined ? "" : JSON.stringify(part.input),
        ...(part.input === undefined ? {} : { input: part.input }),
        state: state === "input-streaming" ? "input-streaming" : "input-complete",
        ...(state === "output-available" ? { output: part.output } : {}),
      });
      if (complete) {
        const failed = state !== "output-available";
        parts.push({
          type: "tool-result",
          toolCallId: id,
          content: failed ? String(part.errorText ?? "tool failed") : JSON.stringify(part.output ?? null),
          state: failed ? "error" : "complete",
          ...(failed ? { error: String(part.errorText ?? "tool failed") } : {}),
        });
      }
    }
  }
  return parts;
}
