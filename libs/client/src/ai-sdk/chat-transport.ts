import type { JsonValue, Message } from "@threadline/protocol";
import type { ChatTransport, UIMessage, UIMessageChunk } from "ai";
import type { SessionHandle } from "../session-handle.ts";
import type { StateHandle } from "../state-handle.ts";
import { TurnTracker, userMessagesOnly } from "./turn-tracker.ts";
import { UIChunkWriter } from "./ui-chunk-writer.ts";

export interface ThreadlineChatTransportOptions<UI_MESSAGE extends UIMessage = UIMessage> {
  /**
   * The attached session (`client.attach(id, { from: "start" })`), or the
   * promise of it. The transport follows its events from the moment it is
   * created, so create it right after the attach resolves (the handle holds
   * the events of the attach's first tick for subscribers registered then):
   * a reply can only be resumed when the transport saw its turn start.
   */
  session: SessionHandle | Promise<SessionHandle>;
  /**
   * The `data` of the `input` event for the last user message. Default:
   * `{ text, parts }` — the message's text parts joined, and its parts.
   */
  toInput?: (message: UI_MESSAGE, trigger: "submit-message" | "regenerate-message") => Record<string, unknown>;
  /** `reason` of the `cancel` event sent on stop. Default `"stopped by the user"`. */
  cancelReason?: string;
  /** Reports a failed `cancel` publish (the stop was not delivered). Default: `console.error`. */
  onError?: (error: unknown) => void;
}

/**
 * A Vercel AI SDK `ChatTransport` over a Threadline session: `useChat({ transport })`
 * or `new Chat({ transport })` talk to agents through the session instead of an
 * HTTP route, so replies survive refreshes, tab switches and device changes.
 *
 * - `sendMessages` publishes the last user message as an `input` event whose id
 *   is the turn id (the user message's id when it is token-shaped and new), and
 *   returns the turn's assistant messages (its delegated sub-turns' too) as one
 *   UI message stream, read from the session's `message.*` events. The stream
 *   ends with the root turn's `turn.end`: `finish`, `abort` (cancelled),
 *   `error` (failed) or `finish` with reason `interrupted`.
 * - `reconnectToStream` returns the most recent turn that has not ended, replayed
 *   from its beginning and then live (`resumeStreamIsReplay`: the chat resets the
 *   message first, so nothing is shown twice), or null when none is in flight.
 * - Aborting either stream (`chat.stop()`) publishes `cancel` for the turn; the
 *   agent ends it and its messages `cancelled`, and every other chat following the
 *   turn ends with an `abort` chunk. A reconnect that replaces an earlier one (the
 *   chat aborts the old resume itself) does not cancel, and neither does an abort
 *   after `close()` — call `transport.close()` before `chat.dispose()` (or on
 *   unmount) to leave a reply running.
 *
 * The chat's `chatId` is not used: one transport serves one session.
 * @example
 *   const session = await client.attach("s-42", { from: "start" });
 *   const transport = new ThreadlineChatTransport({ session });
 *   const chat = new Chat({ transport, messages: transport.messages() });
 */
export class ThreadlineChatTransport<UI_MESSAGE extends UIMessage = UIMessage> implements ChatTransport<UI_MESSAGE> {
  /** A reconnect replays the reply from its start; the chat resets the message before applying it. */
  readonly resumeStreamIsReplay = true;
  private readonly tracker: Promise<TurnTracker>;
  private trackerValue: TurnTracker | undefined;
  private closed = false;
  /** Bumped by every `reconnectToStream`; an abort followed by a newer reconnect is a replaced resume. */
  private reconnects = 0;

  constructor(private readonly options: ThreadlineChatTransportOptions<UI_MESSAGE>) {
    const { session } = options;
    if (isPromise(session)) {
      this.tracker = session.then((s) => this.track(s));
    } else {
      this.tracker = Promise.resolve(this.track(session));
    }
    // Rejections surface from the transport's methods.
    this.tracker.catch(() => {});
  }

  /**
   * The session's messages this transport has seen (user inputs and agent
   * messages, oldest first) as UI messages — the `messages` to start a chat
   * with after a refresh. Empty until the session handle is known.
   */
  messages(): UI_MESSAGE[] {
    const tracker = this.trackerValue;
    if (!tracker) return [];
    // A turn's assistant messages (sub-turns included) are one UI message, as sendMessages streams them.
    const byRoot = new Map<string, UIMessage>();
    const out: UIMessage[] = [];
    for (const message of tracker.messages) {
      const root =
        message.role === "assistant" && message.turn !== undefined ? tracker.rootOf(message.turn) : undefined;
      const ui = toUIMessage(message);
      const merged = root === undefined ? undefined : byRoot.get(root);
      if (merged) {
        merged.parts.push(...ui.parts);
        continue;
      }
      if (root !== undefined) byRoot.set(root, ui);
      out.push(ui);
    }
    return out as UI_MESSAGE[];
  }

  async sendMessages(
    options: Parameters<ChatTransport<UI_MESSAGE>["sendMessages"]>[0],
  ): Promise<ReadableStream<UIMessageChunk>> {
    const tracker = await this.tracker;
    const { trigger, messages, abortSignal } = options;
    const last = messages.at(-1);
    // The chat continues after a client-side tool output or approval: Threadline has its own events for those.
    if (last?.role !== "user") throw userMessagesOnly("ThreadlineChatTransport", tracker.session.id);
    const data = this.options.toInput?.(last, trigger) ?? defaultInput(last);
    // The user message's id as the turn id keeps the chat and the session aligned.
    const turn = tracker.startTurn(trigger === "submit-message" ? last.id : undefined);
    const stream = this.turnStream(tracker, turn, abortSignal, false);
    try {
      await tracker.session.publish({ id: turn, type: "input", data });
    } catch (error) {
      await stream.cancel();
      throw error;
    }
    return stream;
  }

  async reconnectToStream(
    options: Parameters<ChatTransport<UI_MESSAGE>["reconnectToStream"]>[0],
  ): Promise<ReadableStream<UIMessageChunk> | null> {
    const generation = ++this.reconnects;
    const tracker = await this.tracker;
    await tracker.session.whenSynced();
    if (options.abortSignal?.aborted || generation !== this.reconnects) return null;
    const turn = tracker.inFlight();
    if (turn === undefined) return null;
    return this.turnStream(tracker, turn, options.abortSignal, true, generation);
  }

  /**
   * Shared state object `name` of the transport's session (PROTOCOL.md §19),
   * once the session handle is known: `session.state(name)`. Share what the
   * user is doing (page, selection, cart) so the agent sees it without the
   * user typing it; subscribe to an agent's checklist.
   * @example
   *   const page = await transport.state("page");
   *   await page.set([], { product: "sku-42" }); // "is this one in stock?" now has a subject
   */
  async state<T extends JsonValue = JsonValue>(name: string): Promise<StateHandle<T>> {
    return (await this.tracker).session.state<T>(name);
  }

  /** Stops following the session; later aborts publish no `cancel`. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.trackerValue?.close();
  }

  private track(session: SessionHandle): TurnTracker {
    const tracker = new TurnTracker(session);
    this.trackerValue = tracker;
    if (this.closed) tracker.close();
    return tracker;
  }

  /**
   * The reply of root turn `turn` as chunks: what is there now when `replay`,
   * then every change until the turn ends or `signal` aborts.
   */
  private turnStream(
    tracker: TurnTracker,
    turn: string,
    signal: AbortSignal | undefined,
    replay: boolean,
    reconnect?: number,
  ): ReadableStream<UIMessageChunk> {
    const writer = new UIChunkWriter();
    let stop = () => {};
    return new ReadableStream<UIMessageChunk>({
      start: (controller) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          unsubscribe();
          unsubscribeFailure();
          signal?.removeEventListener("abort", onAbort);
        };
        const push = () => {
          if (done) return;
          const view = tracker.view(turn);
          const chunks = view.outcome ? writer.finish(view) : writer.sync(view);
          for (const chunk of chunks) controller.enqueue(chunk);
          if (view.outcome) {
            finish();
            controller.close();
          }
        };
        const onAbort = () => {
          if (done) return;
          finish();
          controller.close();
          // The chat aborts a running resume itself when it starts a newer one: that is not a stop.
          queueMicrotask(() => {
            if (this.closed || (reconnect !== undefined && reconnect !== this.reconnects)) return;
            this.cancel(tracker, turn);
          });
        };
        const unsubscribe = tracker.onChange(turn, push);
        // The handle ended for good (FORBIDDEN, INSUFFICIENT_STATE…): the chat shows the error.
        const unsubscribeFailure = tracker.onFailure((error) => {
          if (done) return;
          finish();
          controller.error(error);
        });
        stop = finish;
        if (signal?.aborted) {
          onAbort();
          return;
        }
        signal?.addEventListener("abort", onAbort, { once: true });
        if (replay) push();
      },
      cancel: () => stop(),
    });
  }

  private cancel(tracker: TurnTracker, turn: string): void {
    const reason = this.options.cancelReason ?? "stopped by the user";
    tracker.session.publish({ type: "cancel", turn, data: { reason } }).catch((error: unknown) => {
      (this.options.onError ?? console.error)(error);
    });
  }
}

function defaultInput(message: UIMessage): Record<string, unknown> {
  const text = message.parts
    .filter((p): p is { type: "text"; text: string } => p.type === "text")
    .map((p) => p.text)
    .join("");
  return { text, parts: message.parts };
}

function toUIMessage(message: Message): UIMessage {
  return {
    id: message.id,
    role: message.role,
    parts: [...message.parts] as UIMessage["parts"],
    ...(message.metadata === undefined ? {} : { metadata: message.metadata }),
  } as UIMessage;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
