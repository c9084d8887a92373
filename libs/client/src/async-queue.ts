/**
 * A bounded single-consumer async queue: the producer pushes synchronously,
 * the consumer pulls with `for await`. Used for `events()` and `statuses()`.
 *
 * At `highWaterMark` buffered values the queue applies its overflow policy:
 * - `"fail"`: it stops accepting values and, once the consumer has drained
 *   what is buffered, the iterator throws `overflowError()` (nothing is
 *   silently skipped; the consumer learns exactly where the stream broke);
 * - `"drop-oldest"`: the oldest buffered value is discarded (for state
 *   snapshots where only the newest matters).
 * `onClose` runs exactly once, when the queue ends, fails or the consumer stops.
 */
export type OverflowPolicy = "fail" | "drop-oldest";

export interface AsyncQueueOptions {
  highWaterMark: number;
  overflow: OverflowPolicy;
  overflowError?: () => unknown;
  onClose?: () => void;
}

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private buffer: T[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private closeNotified = false;

  constructor(private readonly options: AsyncQueueOptions) {
    if (!Number.isSafeInteger(options.highWaterMark) || options.highWaterMark < 1) {
      throw new RangeError("highWaterMark must be an integer ≥ 1");
    }
  }

  /** Values buffered and not yet pulled. */
  get size(): number {
    return this.buffer.length - this.head;
  }

  /** Whether the queue still accepts values. */
  get open(): boolean {
    return !this.ended;
  }

  /** Adds a value. False when the queue no longer accepts values (ended, failed or overflowed). */
  push(value: T): boolean {
    if (this.ended) return false;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter.resolve({ value, done: false });
      return true;
    }
    if (this.size >= this.options.highWaterMark) {
      if (this.options.overflow === "drop-oldest") {
        this.head++;
      } else {
        const error = this.options.overflowError?.() ?? new RangeError("queue overflow");
        this.fail(error);
        return false;
      }
    }
    this.buffer.push(value);
    return true;
  }

  /** No more values: the consumer gets what is buffered, then `done`. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.settleWaiter();
    this.notifyClose();
  }

  /** No more values: the consumer gets what is buffered, then `error` is thrown once. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = { error };
    this.settleWaiter();
    this.notifyClose();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) return Promise.resolve({ value: this.shift(), done: false });
    if (this.ended) return this.finalResult();
    if (this.waiter) return Promise.reject(new TypeError("concurrent next() calls on a single-consumer queue"));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The consumer stopped (e.g. `break` in `for await`): drops the buffer and closes. */
  return(): Promise<IteratorResult<T>> {
    this.buffer = [];
    this.head = 0;
    this.failure = undefined;
    this.ended = true;
    this.settleWaiter();
    this.notifyClose();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private shift(): T {
    const value = this.buffer[this.head] as T;
    this.head++;
    // Compact occasionally so a long-lived queue does not keep consumed slots alive.
    if (this.head >= 1024 && this.head * 2 >= this.buffer.length) {
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    }
    return value;
  }

  private finalResult(): Promise<IteratorResult<T>> {
    const failure = this.failure;
    if (failure) {
      this.failure = undefined;
      return Promise.reject(failure.error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private settleWaiter(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = undefined;
    // A waiting consumer has an empty buffer: deliver the end (or the failure) now.
    this.finalResult().then(waiter.resolve, waiter.reject);
  }

  private notifyClose(): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.options.onClose?.();
  }
}
