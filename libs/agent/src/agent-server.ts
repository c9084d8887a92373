import { AckPolicy, type ConsumerConfig, type ConsumerMessages, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/transport-node";
import {
  DEFAULT_CONTROL_BUCKET,
  ErrorCode,
  newId,
  ThreadlineError,
  type TurnEndData,
  type TurnEndStatus,
  TurnEventType,
  type TurnResumedData,
  type TurnStartData,
} from "@threadline/protocol";
import {
  ControlState,
  decodeRecord,
  RetryPolicy,
  retryDelay,
  type SubjectRecord,
  sleep,
  type TurnRecord,
} from "@threadline/store";
import type { Agent } from "./agent.ts";
import { connectionOf } from "./agent.ts";
import { controlFeedOf } from "./control-feed.ts";
import { natsError } from "./errors.ts";
import { ensureDurable } from "./input-consumer.ts";
import type { AgentPresence } from "./presence.ts";
import { cancelReason, RunningTurn } from "./running-turn.ts";
import { claimTurn, type Route, routeInput } from "./turn-claim.ts";
import { type ClosedTurnRecord, closeLeftovers, namesItsEnd, publishTurnClose } from "./turn-close.ts";
import { createTurnContext, type ResumedInfo, type TurnContext } from "./turn-context.ts";
import { TurnLease } from "./turn-lease.ts";
import { TurnSweeper } from "./turn-sweeper.ts";
import { scanForTakeover } from "./turn-takeover.ts";

/** Runs one turn. Return when done (→ `completed`); throw (→ `failed`); honour `ctx.signal` (→ `cancelled`). */
export type TurnHandler = (ctx: TurnContext) => Promise<void> | void;

/** Options of {@link serveAgent}. */
export interface ServeAgentOptions {
  /** The connected agent the workers publish as (`from` = its id) and consume with. */
  agent: Agent;
  /** Pool name (`[A-Za-z0-9_-]`, ≤ 58): `turn.request`s with `data.agent === name` go to this pool. */
  name: string;
  /** Entry pools also take user/operator `input` events (turn id = the input's id). Default false. */
  entry?: boolean;
  /** Turns this process runs at once; it pulls only as many inputs as it has free slots. Default 8. */
  concurrency?: number;
  /**
   * Lease of a running turn, ms: the durable's ack wait. The worker confirms
   * it every `leaseMs / 3` (in-progress ack); a worker that stops doing so
   * (crashed, stalled, partitioned) loses the turn to another worker about
   * `leaseMs` after its last confirmation. Default 1000; 300–60000.
   */
  leaseMs?: number;
  /**
   * Orphan bound, ms. A running turn's control entry carries `leaseUntil`, which its worker renews every
   * `orphanAfterMs / 3`; a turn whose lease ran out (its worker died and its input was not redelivered:
   * a lost or recreated durable, an input acked by a worker that died before `turn.end`) is ended by a
   * live worker of the pool — `cancelled` when a cancel of it is stored, else `interrupted` — no later
   * than `1.25 × orphanAfterMs + 2 s` after the worker died or a worker of the pool started, whichever is
   * later (PROTOCOL.md §17.6 "Orphaned turns"). Default 10000; at least 3 × `leaseMs`, at most 3600000.
   */
  orphanAfterMs?: number;
  /** This worker's id in `turn.start` / `turn.resumed` and the control bucket. Default `<agent id>-<8 random chars>`. */
  worker?: string;
  /** Enter the session's presence (status `busy`) while running turns there. Default true. */
  presence?: boolean;
  /** The control KV bucket. Default `"threadline-control"`. */
  controlBucket?: string;
  /** Durable consumer name shared by the pool's workers. Default `pool-<name>`. */
  durable?: string;
  /**
   * Takeovers of one turn before the SDK gives up on it: the next worker to
   * find it ends the turn `interrupted` (its open messages too) instead of
   * running it again — an input that keeps killing its workers. Default 3.
   */
  maxTakeovers?: number;
  /** Where a durable that does not exist yet starts (see `ConsumeInputOptions.startAt`). Default `"new"`. */
  startAt?: "new" | "all";
  /** Inputs delivered and not yet acknowledged across all workers of the pool. Default 1000. */
  maxAckPending?: number;
  handler: TurnHandler;
  /**
   * Reports failures the pool survives (a failed turn setup is retried after `leaseMs`). Default: one JSON
   * line on stderr, `{"level":"warn"|"error","service":"agent-pool","pool","code","msg","session"?,"event"?}`
   * (`warn` for retryable errors such as NATS being unavailable; `error`, with the stack, otherwise).
   */
  onError?: (error: unknown, record?: SubjectRecord) => void;
}

/** A running worker of a pool. */
export interface AgentServer extends AsyncDisposable {
  readonly name: string;
  readonly worker: string;
  /** Turns running in this process. */
  readonly running: number;
  /**
   * Stops pulling input and waits up to `graceMs` (default 10000) for the
   * running turns to end. Turns still running then are handed over: their
   * signal fires (reason `CLOSED`), nothing more is published for them, and
   * their input is returned to the pool at once, so another worker takes
   * them over (`turn.resumed`). Idempotent.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Settles when the worker ended (after `stop()`, or when the connection closed). */
  readonly closed: Promise<void>;
}

const POOL_NAME = /^[A-Za-z0-9_-]{1,58}$/;
/** Cancels remembered for turns not (yet) running here, so a turn started right after its cancel still stops. */
const MAX_REMEMBERED_CANCELS = 10_000;
const FETCH_EXPIRES_MS = 5000;
const DEFAULT_STOP_GRACE_MS = 10_000;
/** A final turn's `turn.end` is re-published on redelivery only this soon after it was decided: well inside the stream's duplicate window (default 2 min). */
const REPUBLISH_END_WITHIN_MS = 60_000;

/**
 * Serves one agent pool from this process. Every worker of pool `name` shares
 * one durable pull consumer over `<prefix>.*.in.>` (work-queue use, explicit
 * ack, ack wait = `leaseMs`):
 * - entry pools take `input` events from users/operators, unless an operator
 *   owns the session (`<session>.owner` in the control bucket): then they mark
 *   the turn key final (`cancelled`, `skipped: "operator"`), ack and stay
 *   silent; every pool takes `turn.request`s addressed to its name; every
 *   other in-lane event is acked and ignored;
 * - the worker claims the turn in the control bucket with a create/CAS
 *   (`pending` → `running`), publishes `turn.start`, runs `handler`, CASes the
 *   final status, publishes `turn.end` and acks the input; an input cancelled
 *   while `pending` is not run: the worker publishes its
 *   `turn.end {status: "cancelled"}` (once) and acks;
 * - a redelivered input whose turn is `running` under another worker means
 *   that worker's lease lapsed: this worker CASes the turn to itself,
 *   publishes `turn.resumed`, ends the previous worker's open messages with
 *   `message.end {status: "interrupted"}` and runs the handler with
 *   `ctx.resumed`; a worker that finds its turn taken over aborts it
 *   (`ctx.signal`) and publishes nothing more for it.
 * Control events arrive through the agent's single control feed (one ordered
 * consumer per connection) and are dispatched to the running turns.
 * @example
 *   const server = await serveAgent({ agent, name: "helper", entry: true, concurrency: 4,
 *     async handler(ctx) { await ctx.publish({ type: "note", data: { text: `echo ${ctx.text}` } }); } });
 */
export async function serveAgent(options: ServeAgentOptions): Promise<AgentServer> {
  const o = resolveOptions(options);
  const { agent } = options;
  const control = new ControlState(await new Kvm(connectionOf(agent).js).open(o.controlBucket));
  const config: Partial<ConsumerConfig> = {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(o.leaseMs),
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
    filter_subject: agent.info.subjects.allInput(),
    deliver_policy: o.startAt === "all" ? DeliverPolicy.All : DeliverPolicy.New,
  };
  await ensureDurable(connectionOf(agent).jsm, agent.info.stream, config);
  const worker = new PoolWorker(agent, control, o, config);
  await worker.start();
  return worker;
}

type Resolved = Required<Omit<ServeAgentOptions, "agent">>;

function resolveOptions(options: ServeAgentOptions): Resolved {
  if (!options?.agent) throw new TypeError("serveAgent needs options.agent (from connectAgent / createAgent)");
  if (typeof options.name !== "string" || !POOL_NAME.test(options.name)) {
    throw new TypeError(`name must be 1-58 characters of [A-Za-z0-9_-], got ${JSON.stringify(options.name)}`);
  }
  if (typeof options.handler !== "function") throw new TypeError("handler must be a function");
  const o: Resolved = {
    name: options.name,
    entry: options.entry ?? false,
    concurrency: options.concurrency ?? 8,
    leaseMs: options.leaseMs ?? 1000,
    orphanAfterMs: options.orphanAfterMs ?? 10_000,
    // newId() starts with a ms timestamp: take its random tail, so workers started in the same ms differ.
    worker: options.worker ?? `${options.agent.id.slice(0, 100)}-${newId().slice(-8)}`,
    presence: options.presence ?? true,
    controlBucket: options.controlBucket ?? DEFAULT_CONTROL_BUCKET,
    durable: options.durable ?? `pool-${options.name}`,
    startAt: options.startAt ?? "new",
    maxAckPending: options.maxAckPending ?? 1000,
    maxTakeovers: options.maxTakeovers ?? 3,
    handler: options.handler,
    onError: options.onError ?? ((error, record) => logPoolError(options.name, error, record)),
  };
  integerIn("concurrency", o.concurrency, 1, 10_000);
  integerIn("leaseMs", o.leaseMs, 300, 60_000);
  integerIn("maxAckPending", o.maxAckPending, o.concurrency, 1_000_000);
  integerIn("maxTakeovers", o.maxTakeovers, 0, 1000);
  integerIn("orphanAfterMs", o.orphanAfterMs, 3 * o.leaseMs, 3_600_000);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(o.worker)) throw new TypeError("worker must be 1-128 characters of [A-Za-z0-9_-]");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.durable)) throw new TypeError("durable must be 1-64 characters of [A-Za-z0-9_-]");
  if (o.startAt !== "new" && o.startAt !== "all") throw new TypeError('startAt must be "new" or "all"');
  return o;
}

function integerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
}

class PoolWorker implements AgentServer {
  readonly name: string;
  readonly worker: string;
  closed: Promise<void> = Promise.resolve();
  private readonly turns = new Map<string, RunningTurn>();
  private readonly bySession = new Map<string, Set<RunningTurn>>();
  private readonly recentCancels = new Map<string, SubjectRecord>();
  private readonly tasks = new Set<Promise<void>>();
  /** Turns aborted by `stop` after the grace period: returned to the pool, not ended. */
  private readonly handedOver = new WeakSet<RunningTurn>();
  private readonly presences = new Map<string, { presence: AgentPresence; users: number }>();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private batch: ConsumerMessages | undefined;
  private slotFreed: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private sweeper: TurnSweeper | undefined;

  constructor(
    private readonly agent: Agent,
    private readonly control: ControlState,
    private readonly o: Resolved,
    private readonly config: Partial<ConsumerConfig>,
  ) {
    this.name = o.name;
    this.worker = o.worker;
  }

  get running(): number {
    return this.turns.size;
  }

  async start(): Promise<void> {
    this.unsubscribe = await controlFeedOf(this.agent).subscribe("*", (record) => this.onControl(record));
    const { orphanAfterMs, leaseMs } = this.o;
    this.sweeper = new TurnSweeper({
      agent: this.agent,
      control: this.control,
      pool: this.name,
      worker: this.worker,
      everyMs: Math.floor(orphanAfterMs / 4),
      timing: { startedAt: Date.now(), startGraceMs: Math.max(orphanAfterMs / 2, 3 * leaseMs) },
      onError: (error) => this.o.onError(error),
    });
    this.sweeper.start();
    this.closed = this.pull()
      .catch((error: unknown) => this.o.onError(natsError(`agent pool ${this.name} stopped`, error)))
      .then(async () => {
        this.stopping = true;
        await this.sweeper?.stop();
        while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
        this.unsubscribe?.();
      });
  }

  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.slotFreed?.();
      await this.batch?.close().catch(() => {});
      const grace = setTimeout(() => {
        for (const running of this.turns.values()) {
          this.handedOver.add(running);
          running.abort(
            new ThreadlineError(ErrorCode.CLOSED, `worker ${this.worker} stopped; the turn is handed over`, {
              session: running.session,
            }),
          );
        }
      }, options.graceMs ?? DEFAULT_STOP_GRACE_MS);
      await this.closed;
      clearTimeout(grace);
    })();
    return this.stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private onControl(record: SubjectRecord): void {
    const e = record.event;
    if (e.type === "cancel" && e.turn !== undefined) {
      const key = `${record.session}/${e.turn}`;
      this.recentCancels.delete(key);
      this.recentCancels.set(key, record);
      if (this.recentCancels.size > MAX_REMEMBERED_CANCELS) {
        this.recentCancels.delete(this.recentCancels.keys().next().value as string);
      }
    }
    const running = this.bySession.get(record.session);
    if (running) for (const turn of running) turn.dispatch(record);
  }

  /** Pulls as many inputs as there are free slots, until stopped. */
  private async pull(): Promise<void> {
    const { agent, o } = this;
    let consumer = await connectionOf(agent).js.consumers.get(agent.info.stream, o.durable);
    let failures = 0;
    while (!this.stopping) {
      while (this.tasks.size >= o.concurrency && !this.stopping) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
      }
      if (this.stopping || connectionOf(agent).nc.isClosed()) return;
      try {
        const batch = await consumer.fetch({
          max_messages: o.concurrency - this.tasks.size,
          expires: FETCH_EXPIRES_MS,
        });
        this.batch = batch;
        if (this.stopping) await batch.close(); // stop() ran while the pull was being sent
        for await (const m of batch) {
          if (this.stopping) {
            quietly(() => m.nak()); // not started: let another worker have it now
            continue;
          }
          this.track(this.deliver(m));
        }
        failures = 0;
      } catch (error) {
        if (this.stopping || connectionOf(agent).nc.isClosed()) return;
        this.o.onError(natsError(`pulling input for pool ${this.name}`, error));
        await sleep(retryDelay(++failures, RetryPolicy.consumer));
        try {
          await ensureDurable(connectionOf(agent).jsm, agent.info.stream, this.config);
          consumer = await connectionOf(agent).js.consumers.get(agent.info.stream, o.durable);
        } catch (reopen) {
          this.o.onError(natsError(`reopening the consumer of pool ${this.name}`, reopen));
        }
      }
    }
  }

  private track(task: Promise<void>): void {
    this.tasks.add(task);
    void task.finally(() => {
      this.tasks.delete(task);
      const wake = this.slotFreed;
      this.slotFreed = undefined;
      wake?.();
    });
  }

  private async deliver(m: JsMsg): Promise<void> {
    const record = decodeRecord(this.agent.info.subjects, m.subject, m.seq, m.data);
    if (typeof record === "string") {
      quietly(() => m.term());
      this.o.onError(new ThreadlineError(ErrorCode.INVALID_FRAME, `input seq ${m.seq} dropped: ${record}`));
      return;
    }
    const route = routeInput(record, this.name, this.o.entry);
    if (typeof route === "string") this.o.onError(new ThreadlineError(ErrorCode.INVALID_FRAME, route), record);
    if (!route || typeof route === "string") {
      quietly(() => m.ack());
      return;
    }
    const key = `${record.session}/${route.turn}`;
    // A second delivery of a turn running here (this worker was slow to confirm): the running
    // delivery's in-progress acks and final ack cover the stream seq, so this one is left alone.
    if (this.turns.has(key)) return;
    const running = new RunningTurn(record.session, route.turn, route.ancestors);
    // Registered at once (before any await): a second delivery finds it, a cancel stored after the claim reaches it.
    this.register(running);
    const heartbeat = setInterval(() => quietly(() => m.working()), Math.floor(this.o.leaseMs / 3));
    try {
      const outcome = await this.runTurn(record, route, running);
      clearInterval(heartbeat);
      if (outcome === "ack") {
        await m.ackAck().catch((error: unknown) => this.o.onError(natsError("acking input", error), record));
      } else if (outcome === "hand-over") {
        quietly(() => m.nak());
      }
    } catch (error) {
      clearInterval(heartbeat);
      this.o.onError(error, record);
      quietly(() => m.nak(this.o.leaseMs));
    } finally {
      running.end();
      this.unregister(running);
    }
  }

  /**
   * Runs one turn. Resolves `ack` when the input is done with, `lost` when
   * another worker owns the turn now (no ack: that worker's delivery is
   * live), `hand-over` when this worker stopped mid-turn (nak: redeliver now).
   */
  private async runTurn(
    record: SubjectRecord,
    route: Route,
    running: RunningTurn,
  ): Promise<"ack" | "lost" | "hand-over"> {
    const { session } = record;
    const { control, o } = this;
    // While an operator owns the session, user/operator input starts no turn: the operator answers.
    const operatorOwned = route.fromUser && (await control.operatorOwner(session)) !== undefined;
    const who = { agent: this.name, worker: this.worker, orphanAfterMs: o.orphanAfterMs };
    const claim = await claimTurn(control, record, route, who, operatorOwned);
    if (claim.kind === "skipped") return "ack";
    if (claim.kind === "ended") {
      // Final already. Its closer may have died between the final CAS and its turn.end: while the stream's
      // duplicate window still covers the first attempt, store the same event again (kept once).
      const closed = claim.entry;
      if (
        namesItsEnd(closed) &&
        closed.agent === this.name &&
        Date.now() - closed.updatedAt < REPUBLISH_END_WITHIN_MS
      ) {
        await this.agent.publish(session, {
          id: closed.endEvent,
          type: TurnEventType.END,
          turn: route.turn,
          ref: record.event.id,
          data: closed.end,
        });
      }
      return "ack";
    }
    if (claim.kind === "close-cancelled") {
      // Cancelled before any worker ran it: the pool stores the turn's end, so every reader sees it closed.
      const end: TurnEndData = { status: "cancelled", reason: "cancelled before a worker started it" };
      try {
        await this.agent.publish(session, {
          id: claim.endEvent,
          type: TurnEventType.END,
          turn: route.turn,
          ref: record.event.id,
          data: end,
        });
      } catch (error) {
        // The id from the key was stored by another worker of the pool under another participant id
        // (the duplicate is not "ours", §3.3): that worker's turn.end closes the turn.
        if (!(error instanceof ThreadlineError && error.code === ErrorCode.EVENT_ID_CONFLICT)) throw error;
      }
      return "ack";
    }
    const revision = claim.revision;
    const entry = claim.entry;
    let resumed: ResumedInfo | undefined;
    let cancel = this.rememberedCancel(running);
    if (claim.kind === "takeover") {
      const scan = await scanForTakeover(
        this.agent.history(session, { after: record.seq }),
        route.turn,
        route.ancestors,
      );
      cancel ??= scan.cancel;
      const data: TurnResumedData = {
        agent: this.name,
        worker: this.worker,
        previousWorker: claim.previousWorker,
        reason: "lease-expired",
        attempt: entry.attempt ?? 1,
      };
      const giveUp = data.attempt > o.maxTakeovers;
      if (!giveUp) {
        await this.publish(session, route.turn, { type: TurnEventType.RESUMED, ref: record.event.id, data });
      }
      if (giveUp) {
        // Every worker that ran this turn died or stalled in it: a poison input. End it for good.
        const end: TurnEndData = {
          status: "interrupted",
          reason: `the turn was taken over ${o.maxTakeovers} times; its workers keep crashing or stalling`,
        };
        const closed = finalEntry(entry, end);
        if ((await control.casTurn(session, route.turn, closed, revision)) === undefined) return "lost";
        await publishTurnClose({ agent: this.agent, control }, session, route.turn, closed, scan);
        return "ack";
      }
      await closeLeftovers({ agent: this.agent, control }, session, route.turn, scan);
      resumed = { ...data, interrupted: scan.openMessages };
    } else {
      const data: TurnStartData = { agent: this.name, worker: this.worker };
      if (route.parent !== undefined) data.parent = route.parent;
      if (route.ancestors.length > 0) data.ancestors = route.ancestors;
      await this.publish(session, route.turn, { type: TurnEventType.START, ref: record.event.id, data });
    }
    if (cancel) running.abort(cancelReason(cancel));

    // Lease: the in-progress acks keep the input ours at the server; the control entry tells us
    // if another worker took the turn anyway (we stalled past the lease): then stop, silently.
    const lease = new TurnLease(control, session, route.turn, { revision, entry }, o, (reason) =>
      running.abort(reason),
    );
    lease.start();

    let status: TurnEndStatus = "completed";
    let failure: string | undefined;
    try {
      if (!running.signal.aborted) {
        await this.enterPresence(session);
        try {
          await o.handler(
            createTurnContext({
              agent: this.agent,
              control,
              running,
              pool: this.name,
              worker: this.worker,
              input: record,
              parent: route.parent,
              resumed,
              guard: () => lease.guard(),
            }),
          );
        } catch (error) {
          if (!running.signal.aborted) {
            status = "failed";
            failure = error instanceof Error ? error.message : String(error);
          }
        } finally {
          this.leavePresence(session);
        }
      }
    } finally {
      await lease.end();
    }
    if (lease.lost) return "lost";
    if (this.handedOver.has(running)) return "hand-over";
    if (running.signal.aborted) status = "cancelled";

    const end: TurnEndData = { status };
    const reason = running.signal.reason;
    if (status === "cancelled" && reason instanceof Error) end.reason = reason.message.slice(0, 1024);
    if (failure !== undefined) end.error = failure.slice(0, 1024);
    // The final entry names its turn.end (id and data) before the event is stored: a worker that finds the
    // entry final after this one died stores the same event (publishTurnClose), so no reader waits for ever.
    const closed = finalEntry(lease.held.entry, end);
    const next = await control.casTurn(session, route.turn, closed, lease.held.revision);
    if (next === undefined) return "lost"; // taken over or swept meanwhile: the new owner reports the turn
    await this.agent.publish(session, {
      id: closed.endEvent,
      type: TurnEventType.END,
      turn: route.turn,
      ref: record.event.id,
      data: end,
    });
    return "ack";
  }

  private rememberedCancel(running: RunningTurn): SubjectRecord | undefined {
    for (const turn of [running.turn, ...running.ancestors]) {
      const cancel = this.recentCancels.get(`${running.session}/${turn}`);
      if (cancel) return cancel;
    }
    return undefined;
  }

  private publish(session: string, turn: string, event: { type: string; ref: string; data: unknown }) {
    return this.agent.publish(session, { ...event, turn });
  }

  private register(running: RunningTurn): void {
    this.turns.set(`${running.session}/${running.turn}`, running);
    let set = this.bySession.get(running.session);
    if (!set) {
      set = new Set();
      this.bySession.set(running.session, set);
    }
    set.add(running);
  }

  private unregister(running: RunningTurn): void {
    const key = `${running.session}/${running.turn}`;
    if (this.turns.get(key) === running) this.turns.delete(key);
    const set = this.bySession.get(running.session);
    set?.delete(running);
    if (set?.size === 0) this.bySession.delete(running.session);
  }

  private async enterPresence(session: string): Promise<void> {
    if (!this.o.presence) return;
    const held = this.presences.get(session);
    if (held) {
      held.users++;
      return;
    }
    const presence = this.agent.presence(session);
    this.presences.set(session, { presence, users: 1 });
    await presence
      .enter({ status: "busy", name: this.name, metadata: { worker: this.worker } })
      .catch((error: unknown) => this.o.onError(error));
  }

  private leavePresence(session: string): void {
    const held = this.presences.get(session);
    if (!held || --held.users > 0) return;
    this.presences.delete(session);
    void held.presence.close().catch((error: unknown) => this.o.onError(error));
  }
}

/** The final control entry of a turn, naming the `turn.end` that reports it. */
function finalEntry(entry: TurnRecord, end: TurnEndData): ClosedTurnRecord {
  return { ...entry, status: end.status, updatedAt: Date.now(), endEvent: newId(), end };
}

/** Acks are publishes; on a closed connection they throw, and the server redelivers anyway. */
function quietly(ack: () => void): void {
  try {
    ack();
  } catch {
    // redelivered after the lease
  }
}

/** The default `onError`: one JSON line on stderr per failure the pool survives. */
function logPoolError(pool: string, error: unknown, record?: SubjectRecord): void {
  const e = error instanceof ThreadlineError ? error : undefined;
  const retryable = e?.retryable === true;
  const line: Record<string, unknown> = {
    level: retryable ? "warn" : "error",
    time: Date.now(),
    service: "agent-pool",
    pool,
    code: e?.code ?? ErrorCode.INTERNAL,
    msg: error instanceof Error ? error.message : String(error),
  };
  const session = e?.session ?? record?.session;
  if (session !== undefined) line.session = session;
  if (record) line.event = record.event.id;
  if (!retryable && error instanceof Error && error.stack) line.stack = error.stack;
  console.error(JSON.stringify(line));
}
