import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";

export type { AgentServer, ServeAgentOptions, TurnHandler } from "./serve-options.ts";

import { nanos } from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import {
  ControlState,
  decodeRecord,
  ensureDurable,
  natsError,
  RetryPolicy,
  retryDelay,
  type SubjectRecord,
  sleep,
} from "@threadline/store";
import { connectionOf } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { controlFeedOf } from "./control-feed.ts";
import type { AgentPresence } from "./presence.ts";
import { RunningTurn } from "./running-turn.ts";
import { type AgentServer, type Resolved, resolveOptions, type ServeAgentOptions } from "./serve-options.ts";
import { routeInput } from "./turn-claim.ts";
import { runTurn, type TurnRunnerHost } from "./turn-runner.ts";
import { TurnSweeper } from "./turn-sweeper.ts";

/** Cancels remembered for turns not (yet) running here, so a turn started right after its cancel still stops. */
const MAX_REMEMBERED_CANCELS = 10_000;
const FETCH_EXPIRES_MS = 5000;
const DEFAULT_STOP_GRACE_MS = 10_000;
/** A final turn's `turn.end` is re-published on redelivery only this soon after it was decided: well inside the stream's duplicate window (default 2 min). */

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

  /** What a turn's run needs from its worker. */
  private get turnHost(): TurnRunnerHost {
    return {
      agent: this.agent,
      control: this.control,
      pool: this.name,
      worker: this.worker,
      options: this.o,
      rememberedCancel: (running) => this.rememberedCancel(running),
      handedOver: (running) => this.handedOver.has(running),
      enterPresence: (session) => this.enterPresence(session),
      leavePresence: (session) => this.leavePresence(session),
    };
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
    // Opened inside the loop: NATS may be away right when the worker starts (a supervisor restarting a
    // crashed agent while nats-server restarts too) — retried like any failed pull, never fatal.
    let consumer: Consumer | undefined;
    let failures = 0;
    while (!this.stopping) {
      while (this.tasks.size >= o.concurrency && !this.stopping) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
      }
      if (this.stopping || connectionOf(agent).nc.isClosed()) return;
      try {
        consumer ??= await connectionOf(agent).js.consumers.get(agent.info.stream, o.durable);
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
          consumer = undefined;
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
      const outcome = await runTurn(this.turnHost, record, route, running);
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

  private rememberedCancel(running: RunningTurn): SubjectRecord | undefined {
    for (const turn of [running.turn, ...running.ancestors]) {
      const cancel = this.recentCancels.get(`${running.session}/${turn}`);
      if (cancel) return cancel;
    }
    return undefined;
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

/** Acks are publishes; on a closed connection they throw, and the server redelivers anyway. */
function quietly(ack: () => void): void {
  try {
    ack();
  } catch {
    // redelivered after the lease
  }
}
