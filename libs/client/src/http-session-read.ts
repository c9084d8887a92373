import {
  type AttachFrom,
  ErrorCode,
  formatOffset,
  isPosition,
  offsetSeq,
  type ServerFrame,
  type StateObject,
  ThreadlineError,
} from "@threadline/protocol";
import { errorOfResponse, jsonBody, type LogMessage, logMessages } from "./http-responses.ts";
import { SseParser } from "./sse-parser.ts";

/** How live reads wait for new events: SSE, or long-polls once an SSE read stalled (a proxy buffering it). */
export type LiveMode = "sse" | "long-poll";

/** What a session read needs from its HTTP connection. */
export interface ReadHost {
  /** `GET /v1/stream/<session>?<query>` with the token; rejects on a network failure or when `signal` aborts. */
  get(session: string, query: string, signal: AbortSignal): Promise<Response>;
  /** `GET /v1/sessions/<session>/state/<seq>` with the token (the shared state as of `seq`). */
  snapshot(session: string, seq: number, signal: AbortSignal): Promise<Response>;
  /** Hands a frame to the client, as if the gateway had sent it on a socket. */
  emit(frame: ServerFrame): void;
  /** The connection is unusable: an auth refusal (`error`) or a network failure (`error` undefined). */
  lost(error: ThreadlineError | undefined): void;
  /** The read ended by itself (refused, or gone): forget it. */
  ended(read: HttpSessionRead): void;
  readonly liveMode: LiveMode;
  /** An SSE read stalled: this connection's reads long-poll from now on. */
  useLongPoll(): void;
  /** How long an SSE response may take to send its first event before it counts as stalled. */
  readonly fallbackAfterMs: number;
}

/** A live response that sends nothing for this long is dead (the gateway sends a keep-alive every 20 s by default). */
export const LIVE_IDLE_MS = 65_000;
/** Back-off after live responses that ended without an event (a proxy cutting them short), growing to the cap. */
const EMPTY_ROUND_DELAY_MS = 1_000;
const EMPTY_ROUND_DELAY_CAP_MS = 5_000;

interface Page {
  messages: LogMessage[];
  next: string;
  epoch: string;
  upToDate: boolean;
}

/** A live response went silent: handled like a dead socket (the connection is lost). */
class SilentResponse extends Error {}

/**
 * One attached session over HTTP (PROTOCOL.md §21.10), producing the frames
 * a WebSocket attachment would: a catch-up `GET` from the start offset
 * (`attached`, then `state` when asked for — the gateway's snapshot at the
 * start, `GET /v1/sessions/<id>/state/<seq>` — then the page's `event`s),
 * then live reads from the last
 * `Stream-Next-Offset`: SSE (`data` → `event`s, `control` → the next offset;
 * the first `upToDate` → `synced`), reconnected from that offset whenever a
 * response ends, or long-polls after an SSE response stalled. A refusal
 * before `attached` is the attach's `error`; after it, a `detached` with the
 * error (410 → `INSUFFICIENT_STATE`). Auth refusals and network failures end
 * the whole connection (`lost`), like a socket's close.
 */
export class HttpSessionRead {
  private readonly abort = new AbortController();
  private attached = false;
  private synced = false;
  private next = "-1";
  private cursor: string | undefined;
  private markLive!: () => void;
  /**
   * Resolves once a live read is open at the gateway (the first SSE response,
   * or long-poll answer): from then on this device is present in the session
   * (PROTOCOL.md §21.10), so a presence status can be set.
   */
  readonly liveOpen = new Promise<void>((resolve) => {
    this.markLive = resolve;
  });

  constructor(
    private readonly host: ReadHost,
    readonly session: string,
    private readonly rid: number,
    private readonly from: AttachFrom | undefined,
    private readonly wantsState: boolean,
  ) {}

  start(): void {
    void this.run().catch((error: unknown) => this.failed(error));
  }

  stop(): void {
    this.abort.abort();
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const from = this.from;
    if (from === "cursor") {
      throw new ThreadlineError(
        ErrorCode.TRANSPORT_UNSUPPORTED,
        'from: "cursor" needs the WebSocket (device cursors are not kept over HTTP); attach from a position, "start" or "now"',
        { session: this.session, retryable: false },
      );
    }
    // No `from`: the gateway's default is the device cursor, else the whole history; HTTP has no cursors.
    const offset = isPosition(from) ? formatOffset(from.epoch, from.seq) : from === "now" ? "now" : "-1";
    const first = await this.read(offset, this.abort.signal);
    const start = isPosition(from) ? from.seq : from === "now" ? (offsetSeq(first.next) ?? 0) : 0;
    this.emit({ op: "attached", rid: this.rid, session: this.session, epoch: first.epoch, from: start });
    this.attached = true;
    if (this.wantsState) {
      const objects = await this.stateAt(start);
      this.emit({ op: "state", session: this.session, seq: start, objects });
    }
    this.apply(first);
    let emptyRounds = 0;
    while (!this.stopped) {
      const answered = this.host.liveMode === "sse" ? await this.sseRound() : await this.pollRound();
      emptyRounds = answered ? 0 : emptyRounds + 1;
      if (emptyRounds > 1)
        await delay(Math.min(EMPTY_ROUND_DELAY_MS * emptyRounds, EMPTY_ROUND_DELAY_CAP_MS), this.abort.signal);
    }
  }

  /** The shared state at `seq` (PROTOCOL.md §19.5): `GET /v1/sessions/<id>/state/<seq>`, the `state` frame's snapshot. */
  private async stateAt(seq: number): Promise<Record<string, StateObject>> {
    const response = await this.host.snapshot(this.session, seq, this.abort.signal);
    const body = await jsonBody(response);
    if (!response.ok) throw errorOfResponse(response.status, body, this.session);
    const objects = (body as { objects?: unknown } | undefined)?.objects;
    if (typeof objects !== "object" || objects === null || Array.isArray(objects)) {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the state snapshot answer has no objects", {
        session: this.session,
        retryable: true,
      });
    }
    return objects as Record<string, StateObject>;
  }

  /** A catch-up `GET` from `offset`. */
  private async read(offset: string, signal: AbortSignal): Promise<Page> {
    const response = await this.host.get(this.session, `offset=${encodeURIComponent(offset)}`, signal);
    if (!response.ok) throw await this.refusal(response);
    return this.page(response);
  }

  private async page(response: Response): Promise<Page> {
    const messages = logMessages(await jsonBody(response));
    const next = response.headers.get("stream-next-offset");
    const epoch = response.headers.get("threadline-epoch");
    if (!messages || !next || !epoch) {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the answer is not a Threadline session log (a proxy?)", {
        session: this.session,
        retryable: true,
      });
    }
    return { messages, next, epoch, upToDate: response.headers.get("stream-up-to-date") === "true" };
  }

  private apply(page: Page): void {
    for (const m of page.messages) this.emit({ op: "event", session: this.session, seq: m.seq, event: m.event });
    this.next = page.next;
    if (page.upToDate) this.reachedLive();
  }

  private reachedLive(): void {
    if (this.synced) return;
    this.synced = true;
    this.emit({ op: "synced", session: this.session, seq: offsetSeq(this.next) ?? 0 });
  }

  /** One SSE response from the last offset; false when it ended without any event. */
  private async sseRound(): Promise<boolean> {
    const round = linkedController(this.abort.signal);
    let silent = false;
    let stalled = false;
    let timer = setTimeout(() => {
      stalled = true;
      round.abort();
    }, this.host.fallbackAfterMs);
    const quietFor = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        silent = true;
        round.abort();
      }, ms);
    };
    let events = 0;
    try {
      const response = await this.host.get(this.session, this.liveQuery("sse"), round.signal);
      if (!response.ok) throw await this.refusal(response);
      this.markLive();
      if (!response.body || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
        await response.body?.cancel().catch(() => {});
        this.host.useLongPoll();
        return true;
      }
      const reader = response.body.getReader();
      // Ends a pending read() whatever the body's source does with the fetch's signal.
      round.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done || round.signal.aborted) break;
        for (const message of parser.push(decoder.decode(value, { stream: true }))) {
          events++;
          this.onSse(message.event, message.data);
        }
        if (events > 0) quietFor(LIVE_IDLE_MS);
      }
    } catch (error) {
      if (this.stopped || !round.signal.aborted) throw error;
    } finally {
      clearTimeout(timer);
      round.release();
    }
    if (this.stopped) return true;
    if (stalled && events === 0) {
      this.host.useLongPoll();
      return true;
    }
    if (silent || stalled) throw new SilentResponse(`no event for ${LIVE_IDLE_MS} ms`);
    return events > 0;
  }

  private onSse(type: string, data: string): void {
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, `a malformed ${type} event in the SSE response`, {
        session: this.session,
        retryable: true,
      });
    }
    if (type === "data") {
      for (const m of logMessages(value) ?? []) {
        this.emit({ op: "event", session: this.session, seq: m.seq, event: m.event });
      }
    } else if (type === "control" && typeof value === "object" && value !== null) {
      const control = value as { streamNextOffset?: unknown; streamCursor?: unknown; upToDate?: unknown };
      if (typeof control.streamNextOffset === "string") this.next = control.streamNextOffset;
      if (typeof control.streamCursor === "string") this.cursor = control.streamCursor;
      if (control.upToDate === true) this.reachedLive();
    }
  }

  /** One long-poll from the last offset (new events at once, or 204 after the gateway's wait). */
  private async pollRound(): Promise<boolean> {
    const round = linkedController(this.abort.signal);
    let silent = false;
    const timer = setTimeout(() => {
      silent = true;
      round.abort();
    }, LIVE_IDLE_MS);
    try {
      const response = await this.host.get(this.session, this.liveQuery("long-poll"), round.signal);
      this.markLive();
      this.cursor = response.headers.get("stream-cursor") ?? this.cursor;
      if (response.status === 204) {
        this.next = response.headers.get("stream-next-offset") ?? this.next;
        this.reachedLive();
        return true;
      }
      if (!response.ok) throw await this.refusal(response);
      this.apply(await this.page(response));
      return true;
    } catch (error) {
      if (silent && !this.stopped) throw new SilentResponse(`no answer for ${LIVE_IDLE_MS} ms`);
      throw error;
    } finally {
      clearTimeout(timer);
      round.release();
    }
  }

  private liveQuery(live: LiveMode): string {
    const cursor = this.cursor === undefined ? "" : `&cursor=${encodeURIComponent(this.cursor)}`;
    return `offset=${encodeURIComponent(this.next)}&live=${live}${cursor}`;
  }

  private async refusal(response: Response): Promise<ThreadlineError> {
    return errorOfResponse(response.status, await jsonBody(response), this.session);
  }

  private emit(frame: ServerFrame): void {
    if (!this.stopped) this.host.emit(frame);
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    this.stop();
    if (!(error instanceof ThreadlineError)) {
      // fetch's TypeError, a body cut short, a silent live response: the network, like a dead socket.
      this.host.lost(undefined);
      return;
    }
    if (error.code === ErrorCode.AUTH_FAILED || error.code === ErrorCode.TOKEN_EXPIRED) {
      this.host.lost(error);
      return;
    }
    this.host.ended(this);
    const wire = { session: this.session, code: error.code, message: error.message, retryable: error.retryable };
    // Before `attached` the attach is refused; after it, the gateway "ended the attachment" (§8.4).
    this.host.emit(this.attached ? { op: "detached", ...wire } : { op: "error", rid: this.rid, ...wire });
  }
}

/** An AbortController that also aborts with `parent`; `release()` unhooks it. */
function linkedController(parent: AbortSignal): AbortController & { release(): void } {
  const controller = new AbortController() as AbortController & { release(): void };
  const onAbort = () => controller.abort();
  if (parent.aborted) controller.abort();
  else parent.addEventListener("abort", onAbort, { once: true });
  controller.release = () => parent.removeEventListener("abort", onAbort);
  return controller;
}

/** Waits `ms`, or until `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
