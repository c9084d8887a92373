import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  checkSessionId,
  dedupeKey,
  ErrorCode,
  encodeMsgpack,
  isEventId,
  isEventType,
  isParticipantId,
  isTraceparent,
  Lane,
  newId,
  ParticipantKind,
  type PublishedEvent,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";
import {
  closedError,
  confirmDuplicateAck,
  isTransientNatsError,
  JsPublisher,
  lookupThreadline,
  type MessageAt,
  provisionThreadline,
  RetryPolicy,
  retryDelay,
  type StreamPublisher,
  type SubjectRecord,
  sleep,
  type ThreadlineStreamInfo,
} from "@threadline/store";
import type {
  Agent,
  AgentEvent,
  AgentOptions,
  AgentSetup,
  PublishAck,
  PublishOptions,
  PublishStats,
} from "./agent-api.ts";
import { publishError } from "./errors.ts";
import { type HistoryOptions, readHistory } from "./history-reader.ts";
import { type ConsumeInputOptions, consumeInput, type InputConsumer, type InputHandler } from "./input-consumer.ts";
import { type AgentPresence, type AgentPresenceOptions, SessionPresence } from "./presence.ts";
import { PublishQueue } from "./publish-queue.ts";

import { checkStateLane } from "./state-lane.ts";
import { closeStateViews } from "./state-views.ts";

const DEFAULTS = {
  maxInFlight: 256,
  maxWaiting: 4096,
  maxPendingBytes: 64 * 1024 * 1024,
  publishTimeoutMs: 5000,
  publishRetries: 3,
} as const;
const LANES: ReadonlySet<string> = new Set(Object.values(Lane));

/**
 * Connects to NATS, provisions (or looks up) the stream and returns an agent
 * that owns the connection.
 * @example
 *   await using agent = await connectAgent({ servers: "nats://127.0.0.1:4222", id: "helper" });
 *   await agent.publish("s1", { type: "note", data: { text: "hello" } });
 */
export async function connectAgent(options: AgentOptions): Promise<Agent> {
  validateSetup(options);
  const nc = await connect({
    servers: options.servers,
    name: options.name ?? `threadline-agent-${options.id}`,
    maxReconnectAttempts: -1,
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.pass === undefined ? {} : { pass: options.pass }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...options.nats,
  });
  try {
    return await setUp(nc, options, true);
  } catch (error) {
    await nc.close().catch(() => {});
    throw error;
  }
}

/**
 * An agent over a connection you own: `close()` does not close `nc`.
 * The gateway and tests use it to share one connection.
 */
export async function createAgent(nc: NatsConnection, options: AgentSetup): Promise<Agent> {
  validateSetup(options);
  return setUp(nc, options, false);
}

async function setUp(nc: NatsConnection, options: AgentSetup, ownsConnection: boolean): Promise<Agent> {
  const info =
    options.info ??
    (options.provision === false ? await lookupThreadline(nc) : await provisionThreadline(nc, options.provision ?? {}));
  const jsm = await jetstreamManager(nc);
  return new ThreadlineAgent(nc, jetstream(nc), jsm, info, options, ownsConnection);
}

function validateSetup(options: AgentSetup): void {
  if (!isParticipantId(options?.id)) {
    throw new TypeError(`id must be a participant id ([A-Za-z0-9_-], 1-128 chars), got ${JSON.stringify(options?.id)}`);
  }
  if (options.kind !== undefined && options.kind !== "agent" && options.kind !== "system") {
    throw new TypeError(`kind must be "agent" or "system", got ${JSON.stringify(options.kind)}`);
  }
  for (const key of ["maxInFlight", "publishTimeoutMs"] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw new RangeError(`${key} must be a positive integer, got ${value}`);
    }
  }
  for (const key of ["maxWaiting", "maxPendingBytes", "publishRetries"] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new RangeError(`${key} must be a non-negative integer, got ${value}`);
    }
  }
}

/**
 * The NATS handles behind an agent. The SDK's own parts (worker pools,
 * session bindings) reach NATS through these; an agent author never needs
 * them, so they are not on `Agent` nor exported from the package index.
 */
export interface AgentConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Where the agent's events go: a `JsPublisher` on `nc` (tests wrap its `publish` to watch or fail attempts). */
  readonly publisher: StreamPublisher;
}

const connections = new WeakMap<Agent, AgentConnection>();

/** The NATS handles of an agent made by `connectAgent` / `createAgent`; throws `TypeError` for any other object. */
export function connectionOf(agent: Agent): AgentConnection {
  const connection = connections.get(agent);
  if (!connection) throw new TypeError("not an agent made by connectAgent or createAgent");
  return connection;
}

class ThreadlineAgent implements Agent {
  readonly id: string;
  readonly kind: "agent" | "system";
  private readonly queue: PublishQueue;
  private readonly publishTimeoutMs: number;
  private readonly publishRetries: number;
  private readonly consumers = new Set<InputConsumer>();
  private readonly presences = new Set<SessionPresence>();
  private readonly buckets = new Map<string, Promise<KV>>();
  /** The message stored at a seq, asked of the stream leader (confirms duplicate acks). */
  private readonly messageAt: MessageAt = async (seq) =>
    (await this.jsm.streams.getMessage(this.info.stream, { seq })) ?? undefined;
  private accepting = true;
  private closing: Promise<void> | undefined;
  readonly publisher: StreamPublisher;
  private readonly jsPublisher: JsPublisher;

  constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly info: ThreadlineStreamInfo,
    options: AgentSetup,
    private readonly ownsConnection: boolean,
  ) {
    connections.set(this, this);
    this.id = options.id;
    this.kind = options.kind ?? ParticipantKind.AGENT;
    this.publishTimeoutMs = options.publishTimeoutMs ?? DEFAULTS.publishTimeoutMs;
    this.publishRetries = options.publishRetries ?? DEFAULTS.publishRetries;
    const maxInFlight = options.maxInFlight ?? DEFAULTS.maxInFlight;
    // The queue lets at most maxInFlight publishes await an ack (a timed-out attempt stops waiting before its
    // retry), so the publisher's own limit is never what refuses an agent's publish.
    this.jsPublisher = new JsPublisher(nc, { timeoutMs: this.publishTimeoutMs, maxPending: maxInFlight });
    this.publisher = this.jsPublisher;
    this.queue = new PublishQueue({
      maxInFlight,
      maxWaiting: options.maxWaiting ?? DEFAULTS.maxWaiting,
      maxPendingBytes: options.maxPendingBytes ?? DEFAULTS.maxPendingBytes,
    });
  }

  async publish<TData>(session: string, event: AgentEvent<TData>, options: PublishOptions = {}): Promise<PublishAck> {
    if (!this.accepting) throw closedError("publish", session);
    checkSessionId(session);
    const lane = options.lane ?? Lane.OUT;
    if (!LANES.has(lane)) throw invalidEvent(session, `invalid lane ${JSON.stringify(lane)}`);
    checkStateLane(session, lane, event?.type, event?.data, this.kind);
    if (options.traceparent !== undefined && !isTraceparent(options.traceparent)) {
      throw invalidEvent(session, `invalid traceparent ${JSON.stringify(options.traceparent)} (W3C Trace Context)`);
    }
    const envelope = this.envelope(session, event);
    if (options.traceparent !== undefined) envelope.trace = options.traceparent;
    let payload: Uint8Array;
    try {
      payload = encodeMsgpack(envelope);
    } catch (error) {
      throw invalidEvent(session, `event data cannot be encoded: ${(error as Error).message}`);
    }
    const limit = this.maxMessageBytes();
    const size = payload.byteLength + headerBytes(dedupeKey(session, envelope.id), this.info.stream);
    if (limit >= 0 && size > limit) {
      throw new ThreadlineError(
        ErrorCode.EVENT_TOO_LARGE,
        `event ${envelope.id} (${envelope.type}) is ${size} bytes encoded with headers; the limit is ${limit}`,
        { session },
      );
    }
    const subject = this.info.subjects.event(session, lane, this.kind, this.id);
    // Order: the queue runs one publish per session at a time, in call order, and the next
    // starts only after the previous was acknowledged (or finally failed). So events a caller
    // publishes to one session are stored in call order even when an attempt times out and is
    // retried — pipelining on the connection alone could let a later event overtake a retried
    // one. Different sessions publish concurrently, up to maxInFlight.
    return this.queue.run(session, payload.byteLength, () =>
      this.send(session, { subject, id: envelope.id, type: envelope.type }, payload),
    );
  }

  history(session: string, options?: HistoryOptions): AsyncIterable<SubjectRecord> {
    return readHistory(this.js, this.jsm, this.info, session, options);
  }

  async consumeInput(handler: InputHandler, options: ConsumeInputOptions): Promise<InputConsumer> {
    if (this.closing) throw closedError("consumeInput");
    const consumer = await consumeInput(this.js, this.jsm, this.info, handler, options);
    this.consumers.add(consumer);
    void consumer.closed.then(() => this.consumers.delete(consumer));
    return consumer;
  }

  presence(session: string, options?: AgentPresenceOptions): AgentPresence {
    if (this.closing) throw closedError("presence", session);
    const presence = new SessionPresence(
      {
        id: this.id,
        nc: this.nc,
        openBucket: (name) => {
          let kv = this.buckets.get(name);
          if (!kv) {
            kv = new Kvm(this.js).open(name);
            kv.catch(() => this.buckets.delete(name));
            this.buckets.set(name, kv);
          }
          return kv;
        },
        released: (p) => this.presences.delete(p as SessionPresence),
      },
      session,
      options,
    );
    this.presences.add(presence);
    this.followReconnects();
    return presence;
  }

  private followingReconnects = false;

  /** After a NATS reconnect, every presence re-writes its entry at once with the new client id. */
  private followReconnects(): void {
    if (this.followingReconnects) return;
    this.followingReconnects = true;
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type === "reconnect") for (const p of this.presences) p.refresh();
      }
    })().catch(() => {});
  }

  stats(): PublishStats {
    return { inFlight: this.queue.inFlight, waiting: this.queue.waiting };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Handlers may still publish their replies, so publishing stays open until they finished.
      await Promise.allSettled([...this.consumers].map((c) => c.stop()));
      await Promise.allSettled([...this.presences].map((p) => p.close()));
      await closeStateViews(this);
      this.accepting = false;
      await this.queue.idle();
      this.jsPublisher.close();
      if (this.ownsConnection && !this.nc.isClosed()) await this.nc.drain().catch(() => {});
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private envelope<TData>(session: string, event: AgentEvent<TData>): SessionEvent<TData> {
    if (typeof event !== "object" || event === null) throw invalidEvent(session, "event must be an object");
    if (!isEventType(event.type)) {
      throw invalidEvent(session, `invalid event type ${JSON.stringify(event.type)} (lowercase dotted words, ≤ 64)`);
    }
    for (const key of ["id", "turn", "ref"] as const) {
      if (event[key] !== undefined && !isEventId(event[key])) {
        throw invalidEvent(session, `invalid event ${key} ${JSON.stringify(event[key])} (1-64 printable ASCII)`);
      }
    }
    const envelope: SessionEvent<TData> = {
      id: event.id ?? newId(),
      type: event.type,
      from: { kind: this.kind, id: this.id },
      ts: Date.now(),
    };
    if (event.turn !== undefined) envelope.turn = event.turn;
    if (event.ref !== undefined) envelope.ref = event.ref;
    if (event.data !== undefined) envelope.data = event.data;
    return envelope;
  }

  /** The stream's max_msg_size, capped by the connected server's max payload; -1 = unlimited. */
  private maxMessageBytes(): number {
    const stream = this.info.config.max_msg_size ?? -1;
    const server = this.nc.info?.max_payload ?? -1;
    if (stream < 0) return server;
    return server < 0 ? stream : Math.min(stream, server);
  }

  private async send(session: string, published: PublishedEvent, payload: Uint8Array): Promise<PublishAck> {
    const { subject, id } = published;
    for (let attempt = 1; ; attempt++) {
      let ack: { seq: number; duplicate: boolean };
      try {
        ack = await this.publisher.publish(subject, payload, {
          msgId: dedupeKey(session, id),
          expectStream: this.info.stream,
        });
      } catch (error) {
        if (!isTransientNatsError(error) || attempt > this.publishRetries || this.nc.isClosed()) {
          throw publishError(error, session, id, attempt);
        }
        await sleep(retryDelay(attempt, RetryPolicy.publish));
        continue;
      }
      if (ack.duplicate) await confirmDuplicateAck(this.messageAt, session, published, ack.seq);
      return { id, seq: ack.seq, duplicate: ack.duplicate, epoch: this.info.epoch };
    }
  }
}

function invalidEvent(session: string, message: string): ThreadlineError {
  return new ThreadlineError(ErrorCode.INVALID_FRAME, message, { session });
}

/**
 * Bytes the headers add to a stored message: `NATS/1.0\r\n`, `Nats-Msg-Id: <session>/<id>\r\n`,
 * `Nats-Expected-Stream: <stream>\r\n`, `\r\n`. The stream's `max_msg_size` counts headers + payload.
 */
function headerBytes(msgId: string, stream: string): number {
  return "NATS/1.0\r\n".length + `Nats-Msg-Id: ${msgId}\r\n`.length + `Nats-Expected-Stream: ${stream}\r\n`.length + 2;
}
