import { TestKitError } from "./errors.ts";

interface Waiter<T> {
  predicate: (item: T) => boolean;
  resolve: (item: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * What a receiver (push service, webhook receiver) recorded, with a consuming
 * `next()`: each record is handed out by `next()` at most once, in arrival
 * order, whether it arrived before or after the call, so "send, then await
 * next" has no race and two sends need two `next()`s.
 */
export class DeliveryQueue<T> {
  readonly #all: T[] = [];
  readonly #taken = new Set<T>();
  readonly #waiters = new Set<Waiter<T>>();
  #closed = false;

  constructor(private readonly what: string) {}

  push(item: T): void {
    this.#all.push(item);
    for (const waiter of this.#waiters) {
      if (!waiter.predicate(item)) continue;
      this.#settle(waiter);
      this.#taken.add(item);
      waiter.resolve(item);
      return;
    }
  }

  all(): T[] {
    return [...this.#all];
  }

  next(predicate: (item: T) => boolean = () => true, timeoutMs = 5_000): Promise<T> {
    const ready = this.#all.find((item) => !this.#taken.has(item) && predicate(item));
    if (ready !== undefined) {
      this.#taken.add(ready);
      return Promise.resolve(ready);
    }
    if (this.#closed) return Promise.reject(new TestKitError("STOPPED", `${this.what} is closed`));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#settle(waiter);
          reject(
            new TestKitError(
              "TIMEOUT",
              `${this.what}: no matching delivery within ${timeoutMs} ms (${this.#all.length} recorded)`,
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Rejects every pending `next()` with `STOPPED`. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters) {
      this.#settle(waiter);
      waiter.reject(new TestKitError("STOPPED", `${this.what} closed while waiting for a delivery`));
    }
  }

  #settle(waiter: Waiter<T>): void {
    clearTimeout(waiter.timer);
    this.#waiters.delete(waiter);
  }
}
