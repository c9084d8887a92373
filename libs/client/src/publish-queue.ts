import {
  type BackoffPolicy,
  backoffDelay,
  type ClientEvent,
  canRetry,
  controlEventProblem,
  ErrorCode,
  encodedSize,
  isEventId,
  isEventType,
  type Limits,
  newId,
  type PublishedFrame,
  ThreadlineError,
} from "@threadline/protocol";

export interface PublishResult {
  /** The event id (the caller's, or the one the client generated). */
  id: string;
  /** Stream seq of the stored event. */
  seq: number;
  /** True when the gateway had already stored an event with this id (a resend); `seq` is the original's. */
  duplicate: boolean;
}

/** An event ready to send: its id is fixed before the first attempt. */
export type OutgoingEvent = ClientEvent & { id: string };

/** What the queue needs from the connection. */
export interface PublishTransport {
  /** True while a welcomed socket can carry requests. */
  readonly ready: boolean;
  /** The gateway's limits (from `welcome`, or the protocol defaults before the first one). */
  readonly limits: Limits;
  /**
   * Sends `publish` with a fresh rid and resolves with `published`. Rejects
   * with a ThreadlineError: `CLOSED` (retryable) when the socket went away
   * before the reply, `TIMEOUT` when no reply came, or the gateway's error.
   */
  sendPublish(session: string, event: OutgoingEvent): Promise<PublishedFrame>;
}

/** Retries of one publish after retryable gateway errors (socket losses are not counted). */
export const MAX_PUBLISH_RETRIES = 6;

interface Entry {
  session: string;
  event: OutgoingEvent;
  resolve: (result: PublishResult) => void;
  reject: (error: ThreadlineError) => void;
  state: "queued" | "sending" | "waiting";
  retries: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Publishes with exactly-once storage across socket losses (PROTOCOL.md §9):
 * every event gets its id before the first attempt and keeps it for every
 * resend, so the stream's duplicate window stores it once.
 *
 * - While no socket is ready, publishes wait in the queue; they are sent, in
 *   order, once the next socket is welcomed (`flush`).
 * - A publish in flight when its socket dies is sent again after reconnecting.
 * - A retryable gateway error (`RATE_LIMITED`, `PUBLISH_FAILED`, `UNAVAILABLE`,
 *   `TOO_MANY_PENDING`, …, or a `TIMEOUT`) is retried after a backoff, at most
 *   `MAX_PUBLISH_RETRIES` times; a terminal error rejects at once.
 * - Bounded: at most `limits.maxPendingPublishes` publishes are unresolved
 *   (queued + in flight); beyond that `publish` rejects with `TOO_MANY_PENDING`
 *   without queueing, so the client never exceeds the gateway's own limit.
 *
 * Limitation: JetStream deduplicates within its duplicate window (2 minutes).
 * A publish that was sent, lost its reply, and is resent more than 2 minutes
 * later (a long disconnection) may be stored twice.
 */
export class PublishQueue {
  private readonly entries = new Set<Entry>();
  private closedWith: ThreadlineError | undefined;

  constructor(
    private readonly transport: PublishTransport,
    /** Delays between retries (the client passes its reconnect backoff); `maxAttempts` is capped at MAX_PUBLISH_RETRIES. */
    private readonly retry: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Unresolved publishes (queued, in flight or waiting to retry). */
  get size(): number {
    return this.entries.size;
  }

  publish(session: string, event: ClientEvent): Promise<PublishResult> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const limits = this.transport.limits;
    let outgoing: OutgoingEvent;
    try {
      outgoing = prepareEvent(event, limits, session);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.entries.size >= limits.maxPendingPublishes) {
      return Promise.reject(
        new ThreadlineError(
          ErrorCode.TOO_MANY_PENDING,
          `${this.entries.size} publishes are already pending (limit maxPendingPublishes = ${limits.maxPendingPublishes})`,
          { session },
        ),
      );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const entry: Entry = { session, event: outgoing, resolve, reject, state: "queued", retries: 0, timer: undefined };
      this.entries.add(entry);
      if (this.transport.ready) this.send(entry);
    });
  }

  /** Sends every queued publish, oldest first (a socket was just welcomed). */
  flush(): void {
    for (const entry of [...this.entries]) {
      if (entry.state === "queued") this.send(entry);
    }
  }

  /** Rejects every pending publish and every later one (the client closed for good). */
  failAll(error: ThreadlineError): void {
    this.closedWith = error;
    const entries = [...this.entries];
    this.entries.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  private send(entry: Entry): void {
    entry.state = "sending";
    let reply: Promise<PublishedFrame>;
    try {
      reply = this.transport.sendPublish(entry.session, entry.event);
    } catch (error) {
      reply = Promise.reject(error);
    }
    reply.then(
      (frame) => {
        if (!this.entries.delete(entry)) return;
        entry.resolve({
          id: typeof frame.id === "string" ? frame.id : entry.event.id,
          seq: frame.seq,
          duplicate: frame.duplicate === true,
        });
      },
      (error: unknown) => this.failed(entry, toThreadlineError(error, entry.session)),
    );
  }

  private failed(entry: Entry, error: ThreadlineError): void {
    if (!this.entries.has(entry)) return;
    if (error.code === ErrorCode.CLOSED && error.retryable) {
      // The socket went away before the reply: resend (same id) on the next socket.
      entry.state = "queued";
      if (this.transport.ready) this.send(entry);
      return;
    }
    const retry = entry.retries + 1;
    if (error.retryable && retry <= MAX_PUBLISH_RETRIES && canRetry(retry, this.retry)) {
      entry.retries++;
      entry.state = "waiting";
      entry.timer = setTimeout(
        () => {
          entry.timer = undefined;
          if (!this.entries.has(entry)) return;
          if (this.transport.ready) this.send(entry);
          else entry.state = "queued";
        },
        backoffDelay(entry.retries, this.retry, this.random),
      );
      return;
    }
    this.entries.delete(entry);
    entry.reject(error);
  }
}

function toThreadlineError(error: unknown, session: string): ThreadlineError {
  return error instanceof ThreadlineError
    ? error
    : new ThreadlineError(ErrorCode.INTERNAL, "publish failed", { cause: error, session });
}

/**
 * Validates an event against the protocol's grammar and the gateway's limits
 * before it is queued, so mistakes fail fast with the gateway's error codes,
 * and fixes its id. The caller's object is not modified (it may be a template
 * reused for several publishes; writing the id into it would make them duplicates).
 */
export function prepareEvent(event: ClientEvent, limits: Limits, session: string): OutgoingEvent {
  const invalid = (message: string) => new ThreadlineError(ErrorCode.INVALID_FRAME, `publish: ${message}`, { session });
  if (typeof event !== "object" || event === null) throw invalid("event must be an object");
  if (!isEventType(event.type)) throw invalid(`type ${JSON.stringify(event.type)} is not lowercase dotted words`);
  const id = event.id ?? newId();
  for (const [name, value] of [
    ["id", id],
    ["turn", event.turn],
    ["ref", event.ref],
  ] as const) {
    if (value !== undefined && !isEventId(value)) {
      throw invalid(`${name} must be 1-64 printable ASCII characters without spaces`);
    }
  }
  const problem = controlEventProblem(event.type, { ...event, id });
  if (problem) throw invalid(`${event.type}: ${problem}`);
  let size: number;
  try {
    size = encodedSize(event.data);
  } catch (error) {
    throw new ThreadlineError(ErrorCode.INVALID_FRAME, "publish: data cannot be encoded", { session, cause: error });
  }
  if (size > limits.maxEventBytes) {
    throw new ThreadlineError(
      ErrorCode.EVENT_TOO_LARGE,
      `event data of ${size} bytes exceeds maxEventBytes ${limits.maxEventBytes}`,
      { session },
    );
  }
  const outgoing: OutgoingEvent = { id, type: event.type };
  if (event.turn !== undefined) outgoing.turn = event.turn;
  if (event.ref !== undefined) outgoing.ref = event.ref;
  if (event.data !== undefined) outgoing.data = event.data;
  return outgoing;
}
