import { DEFAULT_CONTROL_BUCKET, ErrorCode, newId, ThreadlineError } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import type { Agent } from "./agent-api.ts";
import type { TurnContext } from "./turn-context.ts";

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

/** The options with their defaults filled in. */
export type Resolved = Required<Omit<ServeAgentOptions, "agent">>;

export function resolveOptions(options: ServeAgentOptions): Resolved {
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
