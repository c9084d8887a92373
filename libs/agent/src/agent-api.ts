import type { NodeConnectionOptions } from "@nats-io/transport-node";
import type { Lane } from "@threadline/protocol";
import type { ProvisionOptions, SubjectRecord, ThreadlineStreamInfo } from "@threadline/store";
import type { HistoryOptions } from "./history-reader.ts";
import type { ConsumeInputOptions, InputConsumer, InputHandler } from "./input-consumer.ts";
import type { AgentPresence, AgentPresenceOptions } from "./presence.ts";

/** The agent SDK's public types: an `Agent` and its options (the implementation is in agent.ts). */

/** Options of {@link createAgent} (over a connection you own). */
export interface AgentSetup {
  /** This agent's participant id (`[A-Za-z0-9_-]`, ≤ 128): the last subject token of everything it publishes. */
  id: string;
  /** Participant kind stamped on its events. Default `"agent"`; Threadline services use `"system"`. */
  kind?: "agent" | "system";
  /**
   * Create/update the stream and cursor bucket at start (idempotent, see
   * `provisionThreadline`). Default: provision with the defaults. `false`:
   * only look the default-named stream up (it must exist); to use a stream
   * with other names without provisioning, pass `info` from `lookupThreadline`.
   */
  provision?: ProvisionOptions | false;
  /** An already provisioned / looked-up stream; when given, `provision` is ignored. */
  info?: ThreadlineStreamInfo;
  /** Publishes awaiting a stream ack at once. Default 256. */
  maxInFlight?: number;
  /**
   * Publishes accepted beyond `maxInFlight` that wait for a slot (callers
   * are backpressured: their promise resolves later). Past it, `publish`
   * rejects at once with `TOO_MANY_PENDING` (retryable). Default 4096.
   */
  maxWaiting?: number;
  /** Bytes of encoded events held by accepted, unsettled publishes. Past it: `TOO_MANY_PENDING`. Default 64 MiB. */
  maxPendingBytes?: number;
  /** Wait for one stream ack, per attempt. Default 5000. */
  publishTimeoutMs?: number;
  /** Retries of a publish after a timeout / no-responders / 503, with the same event id (deduplicated). Default 3. */
  publishRetries?: number;
}

/** Options of {@link connectAgent}. */
export interface AgentOptions extends AgentSetup {
  /** NATS server URL(s). */
  servers: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** Connection name shown in NATS monitoring. Default `threadline-agent-<id>`. */
  name?: string;
  /** Further NATS connection options (TLS, reconnect timing…). The agent reconnects forever by default. */
  nats?: Partial<NodeConnectionOptions>;
}

/** What an agent publishes; the SDK adds `from`, `ts` and (when absent) `id`. */
export interface AgentEvent<TData = unknown> {
  /** Lowercase dotted type, e.g. `message.append`. */
  type: string;
  data?: TData;
  turn?: string;
  ref?: string;
  /** Event id (stored with `Nats-Msg-Id: <session>/<id>`); pass your own to make a re-publish idempotent. Default `newId()`. */
  id?: string;
}

export interface PublishOptions {
  /**
   * Lane of the subject. Default `"out"`. Lane `"st"` holds only `state` events
   * (PROTOCOL.md §19), checked like the gateway checks clients' (`INVALID_FRAME`,
   * `FORBIDDEN`); prefer `ctx.state(name)` / `openSession(…).state(name)`, which
   * also pre-check against the current state and tell whether the op applied.
   */
  lane?: Lane;
  /**
   * W3C `traceparent` of the operation producing the event, stored in the envelope's `trace`
   * and delivered to clients unchanged (PROTOCOL.md §4.2). An invalid value is refused with
   * `INVALID_FRAME`.
   * @example
   *   await agent.publish("s1", event, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
   */
  traceparent?: string;
}

export interface PublishAck {
  id: string;
  /** Stream sequence of the stored event (the original's, when `duplicate`). */
  seq: number;
  /**
   * True when the stream already held an event with this id (within the
   * duplicate window) — a re-publish, or a retry of this call whose first
   * attempt was stored but not acknowledged.
   */
  duplicate: boolean;
  /** The stream's epoch as read when the agent started. */
  epoch: string;
}

export interface PublishStats {
  /** Publishes awaiting a stream ack. */
  inFlight: number;
  /** Publishes accepted and waiting for their turn. */
  waiting: number;
}

/** An agent connected to Threadline. */
export interface Agent extends AsyncDisposable {
  readonly id: string;
  readonly kind: "agent" | "system";
  /** The stream this agent publishes to: its name, subject prefixes and epoch. */
  readonly info: ThreadlineStreamInfo;
  /**
   * Stores an event in `session` (subject `<prefix>.<session>.<lane>.<kind>.<id>`)
   * and resolves once the stream acknowledged it. Publishes of one session
   * are stored in call order.
   * @example
   *   const { seq } = await agent.publish("s1", { type: "message.append", ref: msgId, data: { delta: "Hi" } });
   */
  publish<TData = unknown>(session: string, event: AgentEvent<TData>, options?: PublishOptions): Promise<PublishAck>;
  /**
   * The session's stored events in order (after `options.after`), ending once caught up.
   * @example
   *   for await (const r of agent.history("s1")) console.log(r.seq, r.event.type);
   */
  history(session: string, options?: HistoryOptions): AsyncIterable<SubjectRecord>;
  /**
   * Receives turn-starting input of every session (`<prefix>.*.in.>`) through a durable consumer.
   * @example
   *   const input = await agent.consumeInput(async (r) => reply(r.session, r.event), { durable: "my-agent" });
   */
  consumeInput(handler: InputHandler, options: ConsumeInputOptions): Promise<InputConsumer>;
  /**
   * This agent's presence in `session`: enter/update/leave with heartbeats,
   * and the session's live member set (`members()`, `changes()`,
   * `whenPresent("user")` / `whenAbsent("user")`). `close()` leaves every
   * presence it created.
   * @example
   *   const presence = agent.presence("s1");
   *   await presence.enter({ status: "active" });
   *   await presence.whenPresent("user");
   */
  presence(session: string, options?: AgentPresenceOptions): AgentPresence;
  /** Current publish queue occupancy. */
  stats(): PublishStats;
  /**
   * Stops input consumers (letting running handlers finish), waits for
   * accepted publishes to settle, then drains the connection if the agent
   * opened it (`connectAgent`). Later publishes reject with `CLOSED`. Idempotent.
   */
  close(): Promise<void>;
}
