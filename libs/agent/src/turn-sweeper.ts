import type { KvWatchEntry } from "@nats-io/kv";
import {
  ErrorCode,
  newId,
  parseControlKey,
  ThreadlineError,
  type TurnEndData,
  turnLiveness,
} from "@threadline/protocol";
import {
  type ControlState,
  natsError,
  RetryPolicy,
  retryDelay,
  sleep,
  type TurnRecord,
  withDeadline,
} from "@threadline/store";
import { connectionOf } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { cancelReason } from "./running-turn.ts";
import { type ClosedTurnRecord, publishTurnClose } from "./turn-close.ts";
import { scanForTakeover } from "./turn-takeover.ts";

/** Running turns of the pool a sweeper keeps track of; past it new ones are not tracked (reported once). */
export const MAX_SWEEP_CANDIDATES = 100_000;
/** A history scan of one orphan that takes longer is abandoned (the next sweep tries again), so one stuck read cannot stop the sweep. */
const SCAN_TIMEOUT_MS = 15_000;

/** When the sweep may end a running turn: the one rule, pure, table-tested. */
export interface SweepTiming {
  /** When this worker started sweeping (ms since the epoch). */
  startedAt: number;
  /** How long a worker waits after its start before ending anything: the input's redelivery comes first. */
  startGraceMs: number;
}

/**
 * Whether the sweep ends `entry` at `now`: it is `running`, its lease ran
 * out (`turnLiveness` says `orphaned`: the worker stopped renewing it) and
 * this worker has been up for `startGraceMs` — after a restart of the whole
 * stack every lease looks expired, and the redelivered input (a takeover
 * that *continues* the turn) must get its chance first.
 */
export function sweepDue(entry: Pick<TurnRecord, "status" | "leaseUntil">, now: number, timing: SweepTiming): boolean {
  return turnLiveness(entry, now) === "orphaned" && now >= timing.startedAt + timing.startGraceMs;
}

export interface TurnSweeperOptions {
  agent: Agent;
  control: ControlState;
  /** Pool name: only entries with `agent === pool` are swept. */
  pool: string;
  worker: string;
  /** Sweep every this many ms. */
  everyMs: number;
  timing: SweepTiming;
  onError: (error: unknown) => void;
}

/**
 * The orphan sweep of one pool worker (PROTOCOL.md §17.6 "Orphaned turns").
 * A takeover needs the turn's input to be redelivered; when that cannot
 * happen — the pool's durable consumer lost its state or was recreated, the
 * input was acked by a worker that died before storing `turn.end`, the
 * stream lost the delivery — the turn would stay `running` for ever. So every
 * worker watches the control bucket's turn keys (`*.turn.*`), keeps the
 * `running` turns of its pool, and every `everyMs` ends those whose lease
 * ran out ({@link sweepDue}): CAS to `cancelled` (a `cancel` of the turn or
 * an ancestor is stored after its input) or `interrupted`, with `endEvent`
 * and `end`, then ends its open messages and calls and stores `turn.end`. The
 * CAS makes exactly one worker (sweeper or redelivery) the closer; a worker
 * still running the turn loses its lease at its next renewal and stops.
 */
export class TurnSweeper {
  private readonly candidates = new Map<string, { session: string; turn: string; entry: TurnRecord }>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private watch: { stop(): void } | undefined;
  private stopped = false;
  private sweeping: Promise<void> | undefined;
  private overflowReported = false;

  constructor(private readonly o: TurnSweeperOptions) {}

  /** Turns tracked as running for this pool (for tests and metrics). */
  get tracked(): number {
    return this.candidates.size;
  }

  start(): void {
    void this.watchLoop();
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep().finally(() => {
        this.sweeping = undefined;
      });
    }, this.o.everyMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.watch?.stop();
    await this.sweeping;
  }

  /** Follows `*.turn.*` (current values first); after the watch ends (reconnect, server restart) it starts again. */
  private async watchLoop(): Promise<void> {
    const { agent } = this.o;
    let failures = 0;
    while (!this.stopped && !connectionOf(agent).nc.isClosed()) {
      try {
        const watch = await this.o.control.watchTurns();
        this.watch = watch;
        if (this.stopped) watch.stop();
        const stopOnReconnect = this.stopOnReconnect(watch);
        for await (const entry of watch.entries) {
          this.apply(entry);
          failures = 0;
        }
        stopOnReconnect.cancel();
      } catch (error) {
        if (this.stopped || connectionOf(agent).nc.isClosed()) return;
        this.o.onError(natsError(`watching the turns of pool ${this.o.pool}`, error));
      }
      if (this.stopped || connectionOf(agent).nc.isClosed()) return;
      await sleep(retryDelay(++failures, RetryPolicy.watch));
    }
  }

  /** A reconnect may have moved us to a restarted server that lost the watch's consumer: watch anew. */
  private stopOnReconnect(watch: { stop(): void }): { cancel(): void } {
    let cancelled = false;
    void (async () => {
      for await (const status of connectionOf(this.o.agent).nc.status()) {
        if (cancelled) return;
        if (status.type === "reconnect") {
          watch.stop();
          return;
        }
      }
    })().catch(() => {});
    return {
      cancel: () => {
        cancelled = true;
      },
    };
  }

  private apply(entry: KvWatchEntry): void {
    const key = parseControlKey(entry.key);
    if (key?.kind !== "turn") return;
    if (entry.operation !== "PUT" || entry.length === 0) {
      this.candidates.delete(entry.key);
      return;
    }
    let value: TurnRecord;
    try {
      value = entry.json<TurnRecord>();
    } catch {
      this.candidates.delete(entry.key);
      return;
    }
    if (value?.status !== "running" || value.agent !== this.o.pool) {
      this.candidates.delete(entry.key);
      return;
    }
    if (!this.candidates.has(entry.key) && this.candidates.size >= MAX_SWEEP_CANDIDATES) {
      if (!this.overflowReported) {
        this.overflowReported = true;
        this.o.onError(
          new RangeError(
            `pool ${this.o.pool}: more than ${MAX_SWEEP_CANDIDATES} running turns; the sweep skips the rest`,
          ),
        );
      }
      return;
    }
    this.candidates.set(entry.key, { session: key.session, turn: key.turn, entry: value });
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [key, c] of [...this.candidates]) {
      if (this.stopped) return;
      if (!sweepDue(c.entry, now, this.o.timing)) continue;
      try {
        await this.endOrphan(c.session, c.turn);
      } catch (error) {
        this.o.onError(error);
      }
      // The watch reports the final entry too; dropping it now avoids a second attempt before that.
      if (this.candidates.get(key) === c) this.candidates.delete(key);
    }
  }

  /** Ends one turn whose worker is gone; a lost CAS means another worker closed or took it first. */
  async endOrphan(session: string, turn: string): Promise<boolean> {
    const { agent, control } = this.o;
    const current = await control.getTurn(session, turn);
    if (!current) return false;
    const entry = current.value;
    if (entry.agent !== this.o.pool || !sweepDue(entry, Date.now(), this.o.timing)) return false;
    const history = agent.history(session, entry.inputSeq === undefined ? {} : { after: entry.inputSeq });
    const scan = await withTimeout(scanForTakeover(history, turn, entry.ancestors ?? []), SCAN_TIMEOUT_MS, session);
    const end: TurnEndData = scan.cancel
      ? { status: "cancelled", reason: cancelReason(scan.cancel).message.slice(0, 1024) }
      : {
          status: "interrupted",
          reason: `worker ${entry.worker ?? "unknown"} stopped renewing its lease and the turn's input was not redelivered`,
        };
    const closed: ClosedTurnRecord = {
      ...entry,
      status: end.status,
      updatedAt: Date.now(),
      endEvent: newId(),
      end,
      closedBy: this.o.worker,
    };
    if ((await control.casTurn(session, turn, closed, current.revision)) === undefined) return false;
    await publishTurnClose({ agent, control }, session, turn, closed, scan);
    return true;
  }
}

function withTimeout<T>(work: Promise<T>, ms: number, session: string): Promise<T> {
  return withDeadline(
    work,
    ms,
    () =>
      new ThreadlineError(ErrorCode.TIMEOUT, `scanning ${session} for an orphaned turn took over ${ms} ms`, {
        session,
      }),
  );
}
