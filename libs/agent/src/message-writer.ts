// Over 400 lines on purpose: one class (the batching writer) whose window, byte cap, part limits and publish order share one state.
import {
  ErrorCode,
  isMessageId,
  MAX_MESSAGE_DELTA_BYTES,
  MAX_MESSAGE_PARTS,
  MAX_MESSAGE_TEXT_BYTES,
  type MessageAuthor,
  type MessageEndStatus,
  MessageEventType,
  type MessagePart,
  type MessageRole,
  type MessageStatus,
  messagePartProblem,
  newId,
  type TextLikeType,
  ThreadlineError,
  utf8Length,
} from "@threadline/protocol";
import type { AgentEvent, PublishAck } from "./agent-api.ts";

/** What a writer needs from the agent: its identity and ordered publishing into one session. */
export interface MessagePublisher {
  readonly id: string;
  readonly kind: "agent" | "system";
  publish(session: string, event: AgentEvent): Promise<PublishAck>;
}

/** Options of {@link startMessage}. */
export interface MessageWriterOptions {
  /** The message id (a token, `[A-Za-z0-9_-]`, ≤ 64). Default `newId()`. */
  id?: string;
  /** Default `"assistant"`. */
  role?: MessageRole;
  /** The turn the message belongs to (envelope `turn` of every event). */
  turn?: string;
  /** Default: the agent (`{ kind, id }`). */
  author?: MessageAuthor;
  metadata?: unknown;
  /**
   * Publish deltas at most once per `flushMs` per message: a delta after a
   * quiet window goes out at once (no added latency at low token rates),
   * later ones wait until `flushMs` after the previous publish — no delta
   * waits longer than `flushMs`. Default 20. `0` publishes every `append`
   * as its own event (per-token), as long as the caller awaits `append`.
   */
  flushMs?: number;
  /** Buffered delta bytes (UTF-8) that trigger a publish before `flushMs`; also the largest delta per event. Default 8192. */
  maxBytes?: number;
  /** Events of this writer handed to the agent and not yet acknowledged by the stream. Default 2. */
  maxInFlight?: number;
  /**
   * Aborting ends the message: buffered deltas are published, then
   * `message.end { status: "cancelled" }`. Later writes are ignored.
   */
  signal?: AbortSignal;
}

export interface AppendOptions {
  /** Part index to extend, or `parts.length` to open a new part. Default: the last part when it is text-like of `type`, else a new part. */
  part?: number;
  /** Default `"text"`. */
  type?: TextLikeType;
}

export interface MessageWriterStats {
  /** Events published (acknowledged), including start and end. */
  events: number;
  /** `append` calls accepted. */
  deltas: number;
  /** Events handed to the agent and not yet acknowledged. */
  inFlight: number;
}

/**
 * Streams one message into a session (PROTOCOL.md §18). Deltas are
 * published at most once per `flushMs` (leading edge: the first delta after
 * a quiet window goes out at once) or when `maxBytes` are buffered, as
 * `message.append` events in call order; `setPart`, `update` and `end`
 * first publish what is buffered. At most `maxInFlight` events are
 * unacknowledged at once: while the stream is slower, deltas keep
 * coalescing in the buffer (bigger batches, never reordered), and the
 * promises returned by the write methods resolve only once the writer is
 * under its bound again — await them to get backpressure.
 *
 * Errors: misuse throws synchronously — `INVALID_FRAME` (bad part index or
 * part, delta not a string), `EVENT_TOO_LARGE` (message text above
 * `MAX_MESSAGE_TEXT_BYTES`, more than `MAX_MESSAGE_PARTS` parts),
 * `MESSAGE_ENDED` (a write after `end`). A publish that finally fails
 * (after the agent's retries) fails the writer: later writes and `end`
 * reject with that error. After the abort signal fired, writes are ignored.
 * @example
 *   const writer = startMessage(agent, "s1", { turn, signal });
 *   for await (const token of model) await writer.append(token);
 *   await writer.end("complete");
 */
export interface MessageWriter {
  readonly id: string;
  readonly session: string;
  /** `streaming` until `end` (or the abort signal). */
  readonly status: MessageStatus;
  /** Number of parts so far. */
  readonly parts: number;
  /** Resolves when `message.end` is stored; rejects when the writer failed. */
  readonly closed: Promise<void>;
  /** Adds a text/reasoning delta. */
  append(delta: string, options?: AppendOptions): Promise<void>;
  /** Sets part `index` (`parts` adds one): tool calls and results, data, sources, files. */
  setPart(index: number, value: MessagePart): Promise<void>;
  /** Replaces all parts (and metadata when given): republishing gives readers a clean state. */
  update(parts: MessagePart[], metadata?: unknown): Promise<void>;
  /** Publishes what is buffered now and resolves when every event so far is stored. */
  flush(): Promise<void>;
  /** Publishes what is buffered, then `message.end`; resolves when stored. The first end wins; later calls return `closed`. */
  end(status?: MessageEndStatus, error?: string): Promise<void>;
  stats(): MessageWriterStats;
}

export const MESSAGE_WRITER_DEFAULTS = { flushMs: 20, maxBytes: 8192, maxInFlight: 2 } as const;
/** Events a writer may queue beyond `maxInFlight` (writes not awaited); past it writes throw `TOO_MANY_PENDING`. */
const MAX_QUEUED_EVENTS = 1024;

/**
 * Starts a message in `session` (publishes `message.start`) and returns its writer.
 * @example
 *   const writer = startMessage(agent, session, { turn: ctx.turn, signal: ctx.signal });
 */
export function startMessage(
  agent: MessagePublisher,
  session: string,
  options: MessageWriterOptions = {},
): MessageWriter {
  return new BatchingMessageWriter(agent, session, options);
}

interface Segment {
  part: number;
  type: TextLikeType;
  text: string;
  bytes: number;
}

class BatchingMessageWriter implements MessageWriter {
  readonly id: string;
  readonly closed: Promise<void>;
  private state: MessageStatus = "streaming";
  private readonly flushMs: number;
  private readonly maxBytes: number;
  private readonly maxInFlight: number;
  private readonly turn: string | undefined;
  /** Types of the parts so far (`undefined` for parts that are not text-like). */
  private readonly partTypes: (TextLikeType | undefined)[] = [];
  /** UTF-8 text bytes per part (0 for parts that are not text-like); their sum is `textBytes`. */
  private readonly partBytes: number[] = [];
  private textBytes = 0;
  private segments: Segment[] = [];
  private bufferedBytes = 0;
  /** When the buffer was last published (`performance.now()`); deltas go out at most once per `flushMs`. */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Events created in order and not yet handed to the agent. */
  private readonly outbox: AgentEvent[] = [];
  private inFlight = 0;
  private published = 0;
  private deltas = 0;
  private failure: unknown;
  private capacityWaiters: (() => void)[] = [];
  private settledWaiters: (() => void)[] = [];
  private endRequested = false;
  private resolveClosed!: () => void;
  private rejectClosed!: (error: unknown) => void;

  constructor(
    private readonly agent: MessagePublisher,
    readonly session: string,
    options: MessageWriterOptions,
  ) {
    const id = options.id ?? newId();
    if (!isMessageId(id)) {
      throw invalid(session, `message id must be a token ([A-Za-z0-9_-], 1-64), got ${JSON.stringify(id)}`);
    }
    this.id = id;
    this.flushMs = options.flushMs ?? MESSAGE_WRITER_DEFAULTS.flushMs;
    this.maxBytes = options.maxBytes ?? MESSAGE_WRITER_DEFAULTS.maxBytes;
    this.maxInFlight = options.maxInFlight ?? MESSAGE_WRITER_DEFAULTS.maxInFlight;
    if (!Number.isFinite(this.flushMs) || this.flushMs < 0)
      throw new RangeError(`flushMs must be ≥ 0, got ${this.flushMs}`);
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 1 || this.maxBytes > MAX_MESSAGE_DELTA_BYTES) {
      throw new RangeError(`maxBytes must be an integer in 1..${MAX_MESSAGE_DELTA_BYTES}, got ${this.maxBytes}`);
    }
    if (!Number.isSafeInteger(this.maxInFlight) || this.maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be a positive integer, got ${this.maxInFlight}`);
    }
    this.turn = options.turn;
    this.closed = new Promise((resolve, reject) => {
      this.resolveClosed = resolve;
      this.rejectClosed = reject;
    });
    // `closed` may legitimately go unobserved (the caller awaits `end()` instead).
    this.closed.catch(() => {});
    const data: Record<string, unknown> = {
      id,
      role: options.role ?? "assistant",
      author: options.author ?? { kind: agent.kind, id: agent.id },
    };
    if (options.metadata !== undefined) data.metadata = options.metadata;
    this.enqueue(MessageEventType.START, data);
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.abort();
      else signal.addEventListener("abort", () => this.abort(), { once: true });
    }
  }

  get status(): MessageStatus {
    return this.state;
  }

  get parts(): number {
    return this.partTypes.length;
  }

  append(delta: string, options: AppendOptions = {}): Promise<void> {
    if (this.ignoring()) return Promise.resolve();
    if (typeof delta !== "string") throw invalid(this.session, "delta must be a string");
    const type = options.type ?? "text";
    if (type !== "text" && type !== "reasoning") throw invalid(this.session, `type must be "text" or "reasoning"`);
    const last = this.partTypes.length - 1;
    const part = options.part ?? (last >= 0 && this.partTypes[last] === type ? last : this.partTypes.length);
    if (!Number.isSafeInteger(part) || part < 0 || part > this.partTypes.length) {
      throw invalid(this.session, `part ${part} is not an existing part or the next one (${this.partTypes.length})`);
    }
    if (part < this.partTypes.length && this.partTypes[part] !== type) {
      throw invalid(this.session, `part ${part} is not a ${type} part`);
    }
    if (part === this.partTypes.length && part >= MAX_MESSAGE_PARTS) throw tooManyParts(this.session);
    const bytes = utf8Length(delta);
    if (this.textBytes + bytes > MAX_MESSAGE_TEXT_BYTES) throw tooLarge(this);
    if (part === this.partTypes.length) {
      this.partTypes.push(type);
      this.partBytes.push(0);
    }
    this.partBytes[part]! += bytes;
    this.textBytes += bytes;
    this.deltas++;
    const tail = this.segments.at(-1);
    if (tail !== undefined && tail.part === part) {
      tail.text += delta;
      tail.bytes += bytes;
    } else this.segments.push({ part, type, text: delta, bytes });
    this.bufferedBytes += bytes;
    const wait = this.lastFlushAt + this.flushMs - performance.now();
    if (wait <= 0 || this.bufferedBytes >= this.maxBytes) this.flushBuffer();
    else this.timer ??= setTimeout(() => this.onTimer(), wait);
    return this.capacity();
  }

  setPart(index: number, value: MessagePart): Promise<void> {
    if (this.ignoring()) return Promise.resolve();
    if (!Number.isSafeInteger(index) || index < 0 || index > this.partTypes.length) {
      throw invalid(this.session, `part ${index} is not an existing part or the next one (${this.partTypes.length})`);
    }
    const problem = messagePartProblem(value);
    if (problem !== undefined) throw invalid(this.session, problem);
    if (index === this.partTypes.length && index >= MAX_MESSAGE_PARTS) throw tooManyParts(this.session);
    const bytes = textBytesOf(value);
    if (this.textBytes - (this.partBytes[index] ?? 0) + bytes > MAX_MESSAGE_TEXT_BYTES) throw tooLarge(this);
    this.bufferToOutbox();
    this.textBytes += bytes - (this.partBytes[index] ?? 0);
    this.partTypes[index] = textLike(value);
    this.partBytes[index] = bytes;
    this.enqueue(MessageEventType.PART, { part: index, value });
    return this.capacity();
  }

  update(parts: MessagePart[], metadata?: unknown): Promise<void> {
    if (this.ignoring()) return Promise.resolve();
    if (!Array.isArray(parts)) throw invalid(this.session, "parts must be an array");
    if (parts.length > MAX_MESSAGE_PARTS) throw tooManyParts(this.session);
    let total = 0;
    for (const part of parts) {
      const problem = messagePartProblem(part);
      if (problem !== undefined) throw invalid(this.session, problem);
      total += textBytesOf(part);
    }
    if (total > MAX_MESSAGE_TEXT_BYTES) throw tooLarge(this);
    this.bufferToOutbox();
    this.partTypes.length = 0;
    this.partBytes.length = 0;
    for (const part of parts) {
      this.partTypes.push(textLike(part));
      this.partBytes.push(textBytesOf(part));
    }
    this.textBytes = total;
    this.enqueue(MessageEventType.UPDATE, metadata === undefined ? { parts } : { parts, metadata });
    return this.capacity();
  }

  flush(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.bufferToOutbox();
    this.pump();
    return this.settled();
  }

  end(status: MessageEndStatus = "complete", error?: string): Promise<void> {
    if (this.endRequested) return this.closed;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.finish(status, error);
    return this.closed;
  }

  stats(): MessageWriterStats {
    return { events: this.published, deltas: this.deltas, inFlight: this.inFlight };
  }

  /** True when writes are to be ignored (aborted); throws for writes after an explicit end or a failure. */
  private ignoring(): boolean {
    if (this.failure !== undefined) throw this.failure;
    if (!this.endRequested) return false;
    if (this.state === "cancelled" && this.aborted) return true;
    throw new ThreadlineError(ErrorCode.MESSAGE_ENDED, `message ${this.id} already ended (${this.state})`, {
      session: this.session,
    });
  }

  private aborted = false;

  private abort(): void {
    if (this.endRequested || this.failure !== undefined) return;
    this.aborted = true;
    this.finish("cancelled");
  }

  private finish(status: MessageEndStatus, error?: string): void {
    this.endRequested = true;
    this.state = status;
    this.bufferToOutbox();
    this.enqueue(MessageEventType.END, error === undefined ? { status } : { status, error });
  }

  private onTimer(): void {
    this.timer = undefined;
    this.flushBuffer();
  }

  /** Publishes the buffer if a slot is free; otherwise it keeps coalescing until an ack frees one. */
  private flushBuffer(): void {
    if (this.inFlight >= this.maxInFlight || this.outbox.length > 0) return;
    this.bufferToOutbox();
    this.pump();
  }

  private bufferToOutbox(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.segments.length > 0) this.lastFlushAt = performance.now();
    for (const segment of this.segments) {
      for (const delta of split(segment.text, segment.bytes, this.maxBytes)) {
        this.outbox.push(this.event(MessageEventType.APPEND, { part: segment.part, delta, type: segment.type }));
      }
    }
    this.segments = [];
    this.bufferedBytes = 0;
  }

  private enqueue(type: string, data: unknown): void {
    if (this.outbox.length >= MAX_QUEUED_EVENTS && type !== MessageEventType.END) {
      throw new ThreadlineError(
        ErrorCode.TOO_MANY_PENDING,
        `message ${this.id} has ${this.outbox.length} events queued; await the writer's promises`,
        { session: this.session },
      );
    }
    this.outbox.push(this.event(type, data));
    this.pump();
  }

  private event(type: string, data: unknown): AgentEvent {
    const event: AgentEvent = { type, ref: this.id, data };
    if (this.turn !== undefined) event.turn = this.turn;
    return event;
  }

  /** Hands queued events to the agent in order while slots are free. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.outbox.length > 0 && this.failure === undefined) {
      const event = this.outbox.shift()!;
      this.inFlight++;
      this.agent.publish(this.session, event).then(
        () => {
          this.inFlight--;
          this.published++;
          if (event.type === MessageEventType.END) this.resolveClosed();
          this.afterAck();
        },
        (error) => {
          this.inFlight--;
          this.fail(error);
        },
      );
    }
  }

  private afterAck(): void {
    if (this.outbox.length === 0 && this.segments.length > 0 && this.timer === undefined) {
      // The buffer waited for a slot (its window already passed): publish it now.
      this.bufferToOutbox();
    }
    this.pump();
    this.wake();
  }

  private fail(error: unknown): void {
    if (this.failure === undefined) {
      this.failure = error;
      this.outbox.length = 0;
      this.segments = [];
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.rejectClosed(error);
    }
    this.wake();
  }

  private wake(): void {
    if (this.failure !== undefined || (this.inFlight < this.maxInFlight && this.outbox.length === 0)) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.failure !== undefined || (this.inFlight === 0 && this.outbox.length === 0)) {
      const waiters = this.settledWaiters;
      this.settledWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves when fewer than maxInFlight events are unacknowledged and none are queued. */
  private capacity(): Promise<void> {
    if (this.inFlight < this.maxInFlight && this.outbox.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.capacityWaiters.push(resolve)).then(() => this.rethrow());
  }

  private settled(): Promise<void> {
    if (this.inFlight === 0 && this.outbox.length === 0) return Promise.resolve().then(() => this.rethrow());
    return new Promise<void>((resolve) => this.settledWaiters.push(resolve)).then(() => this.rethrow());
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

function textBytesOf(part: MessagePart): number {
  return part.type === "text" || part.type === "reasoning" ? utf8Length(part.text) : 0;
}

function tooLarge(writer: { id: string; session: string }): ThreadlineError {
  return new ThreadlineError(
    ErrorCode.EVENT_TOO_LARGE,
    `message ${writer.id} would exceed ${MAX_MESSAGE_TEXT_BYTES} bytes of text`,
    { session: writer.session },
  );
}

function textLike(part: MessagePart): TextLikeType | undefined {
  return part.type === "text" || part.type === "reasoning" ? part.type : undefined;
}

/** Splits `text` into chunks of at most `maxBytes` UTF-8 bytes, never inside a surrogate pair. */
function split(text: string, bytes: number, maxBytes: number): string[] {
  if (bytes <= maxBytes) return [text];
  const chunks: string[] = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length;
    const width = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (size + width > maxBytes && i > start) {
      chunks.push(text.slice(start, i));
      start = i;
      size = 0;
    }
    size += width;
    if (pair) i++;
  }
  chunks.push(text.slice(start));
  return chunks;
}

function invalid(session: string, message: string): ThreadlineError {
  return new ThreadlineError(ErrorCode.INVALID_FRAME, message, { session });
}

function tooManyParts(session: string): ThreadlineError {
  return new ThreadlineError(ErrorCode.EVENT_TOO_LARGE, `a message has at most ${MAX_MESSAGE_PARTS} parts`, {
    session,
  });
}
