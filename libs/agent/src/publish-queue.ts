import { ErrorCode, ThreadlineError } from "@threadline/protocol";

export interface PublishQueueLimits {
  /** Tasks running at once (publishes awaiting a stream ack). */
  maxInFlight: number;
  /** Tasks accepted beyond `maxInFlight` (accepted = running + waiting ≤ maxInFlight + maxWaiting). Above: `TOO_MANY_PENDING`. */
  maxWaiting: number;
  /** Bytes of all accepted, unsettled tasks (their encoded events). Above: `TOO_MANY_PENDING`. */
  maxPendingBytes: number;
}

/**
 * Admission and ordering for publishes.
 *
 * - **Bounded in flight**: at most `maxInFlight` tasks run at once; further
 *   tasks wait in FIFO order (backpressure: the caller's promise resolves later).
 * - **Bounded waiting**: a task that would make the accepted, unsettled tasks
 *   exceed `maxInFlight + maxWaiting` (or their bytes exceed `maxPendingBytes`)
 *   is refused at once with `ThreadlineError(TOO_MANY_PENDING)` (retryable) —
 *   memory never grows with an unbounded backlog of promises. A task is
 *   always admitted when nothing is pending, whatever its size.
 * - **Per-key order**: tasks of one key (a session) run one at a time, in the
 *   order `run` was called. A task starts only after the previous task of its
 *   key settled (resolved or rejected), so a publish that fails and is retried
 *   can never be overtaken by a later publish of the same session. Tasks of
 *   different keys run concurrently (up to `maxInFlight`).
 */
export class PublishQueue {
  private running = 0;
  private waitingCount = 0;
  private pendingBytes = 0;
  /** FIFO of tasks whose key is free and that wait for an in-flight slot. */
  private readonly slotWaiters: (() => void)[] = [];
  private slotHead = 0;
  /** Per key, the promise that settles when the key's last accepted task settles. */
  private readonly tails = new Map<string, Promise<void>>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly limits: PublishQueueLimits) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < (name === "maxInFlight" ? 1 : 0)) {
        throw new RangeError(`${name} must be a non-negative integer (maxInFlight ≥ 1), got ${value}`);
      }
    }
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Tasks accepted and not yet running. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** Keys with accepted, unsettled tasks (bounded by inFlight + waiting). */
  get keys(): number {
    return this.tails.size;
  }

  /**
   * Runs `task` when its turn comes. Rejects with TOO_MANY_PENDING right away
   * when the waiting limits are reached; otherwise settles like `task`.
   */
  run<T>(key: string, bytes: number, task: () => Promise<T>): Promise<T> {
    const accepted = this.running + this.waitingCount;
    const overCount = accepted >= this.limits.maxInFlight + this.limits.maxWaiting;
    const overBytes = accepted > 0 && this.pendingBytes + bytes > this.limits.maxPendingBytes;
    if (overCount || overBytes) {
      return Promise.reject(
        new ThreadlineError(
          ErrorCode.TOO_MANY_PENDING,
          `${this.running} publishes in flight and ${this.waitingCount} waiting (${this.pendingBytes} bytes); ` +
            "wait for earlier publishes before sending more",
          { session: key },
        ),
      );
    }
    this.waitingCount++;
    this.pendingBytes += bytes;
    const previous = this.tails.get(key);
    let settleKey!: () => void;
    const mine = new Promise<void>((resolve) => {
      settleKey = resolve;
    });
    this.tails.set(key, mine);
    const execute = async (): Promise<T> => {
      try {
        if (previous) await previous;
        await this.acquireSlot();
        try {
          return await task();
        } finally {
          this.releaseSlot();
        }
      } finally {
        this.pendingBytes -= bytes;
        if (this.tails.get(key) === mine) this.tails.delete(key);
        settleKey();
        this.notifyIdle();
      }
    };
    return execute();
  }

  /** Resolves once nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waitingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Moves one task from waiting to running, now or when a slot frees up (FIFO). */
  private acquireSlot(): Promise<void> | undefined {
    if (this.running < this.limits.maxInFlight && this.slotHead === this.slotWaiters.length) {
      this.startOne();
      return undefined;
    }
    return new Promise((resolve) => {
      this.slotWaiters.push(() => {
        this.startOne();
        resolve();
      });
    });
  }

  private startOne(): void {
    this.waitingCount--;
    this.running++;
  }

  private releaseSlot(): void {
    this.running--;
    if (this.slotHead < this.slotWaiters.length) {
      const next = this.slotWaiters[this.slotHead];
      this.slotWaiters[this.slotHead] = undefined as unknown as () => void;
      this.slotHead++;
      if (this.slotHead === this.slotWaiters.length) {
        this.slotWaiters.length = 0;
        this.slotHead = 0;
      }
      next?.();
    }
  }

  private notifyIdle(): void {
    if (this.running !== 0 || this.waitingCount !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
